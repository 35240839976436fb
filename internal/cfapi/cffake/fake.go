package cffake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Dest is a route destination as a test sets it up or reads it back. Zero Process, Port and Protocol
// take CC's defaults (web, 8080, http1 — or tcp on a TCP route) when the destination is created.
type Dest struct {
	GUID     string
	App      string
	Process  string
	Port     int
	Protocol string
	Weight   *int
}

// Fault makes matching requests fail the way a Cloud Controller fails. A request matches when its
// method is Method and its path (without query) is Path, or starts with Path when Path ends in "*".
type Fault struct {
	Method     string
	Path       string
	After      int // let this many matching requests through first
	Times      int // fail this many matching requests; 0 means once, -1 means for ever
	Status     int
	Code       int
	Title      string
	Detail     string
	RetryAfter string // Retry-After header value, for 429

	seen, failed int
}

// Fake is a Cloud Controller and UAA on one httptest server; UAA lives under /uaa as the root
// document's links say, which is all a client may rely on.
type Fake struct {
	URL string

	srv *httptest.Server
	mu  sync.Mutex
	seq int

	orgs    []*org
	spaces  []*space
	apps    []*app
	domains []*domain
	routes  []*route

	access   map[string]*token // access token → what it stands for
	refresh  map[string]*token // refresh token → whom it renews
	users    map[string]string
	clients  map[string]string
	faults   []*Fault
	emptied  []string
	calls    []string
	grants   map[string]int
	perPage  int
	clockNow func() time.Time
}

type org struct{ guid, name string }
type space struct {
	guid, name string
	org        *org
}
type app struct {
	guid, name string
	space      *space
}
type domain struct {
	guid, name string
	internal   bool
	tcp        bool
}
type route struct {
	guid, host, path string
	port             int
	space            *space
	domain           *domain
	dests            []*Dest
	labels           map[string]string
	annotations      map[string]string
	created          time.Time
}
type token struct {
	user, client string
	expired      bool
}

// New starts a fake foundation and stops it when the test ends.
func New(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{
		access:   map[string]*token{},
		refresh:  map[string]*token{},
		users:    map[string]string{},
		clients:  map[string]string{},
		grants:   map[string]int{},
		perPage:  50,
		clockNow: time.Now,
	}
	f.srv = httptest.NewServer(f.handler())
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

func (f *Fake) nextGUID(kind string) string {
	f.seq++
	return fmt.Sprintf("%08x-0000-4000-8000-%012d", f.seq, len(kind))
}

// AddOrg creates an organization and returns its GUID.
func (f *Fake) AddOrg(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := &org{guid: f.nextGUID("org"), name: name}
	f.orgs = append(f.orgs, o)
	return o.guid
}

// AddSpace creates a space in an organization and returns its GUID.
func (f *Fake) AddSpace(orgGUID, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &space{guid: f.nextGUID("space"), name: name}
	for _, o := range f.orgs {
		if o.guid == orgGUID {
			s.org = o
		}
	}
	f.spaces = append(f.spaces, s)
	return s.guid
}

// AddApp creates an app in a space and returns its GUID.
func (f *Fake) AddApp(spaceGUID, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := &app{guid: f.nextGUID("app"), name: name, space: f.spaceByGUID(spaceGUID)}
	f.apps = append(f.apps, a)
	return a.guid
}

// DomainKind says what traffic a domain carries.
type DomainKind int

// Domain kinds: shared HTTP, internal (apps.internal, container to container) and TCP.
const (
	HTTPDomain DomainKind = iota
	InternalDomain
	TCPDomain
)

// AddDomain creates a domain and returns its GUID.
func (f *Fake) AddDomain(name string, kind DomainKind) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := &domain{guid: f.nextGUID("domain"), name: name, internal: kind == InternalDomain, tcp: kind == TCPDomain}
	f.domains = append(f.domains, d)
	return d.guid
}

// AddRoute creates a route (port only for TCP domains) with its destinations and returns its GUID.
func (f *Fake) AddRoute(spaceGUID, domainGUID, host, path string, port int, dests ...Dest) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &route{
		guid: f.nextGUID("route"), host: host, path: path, port: port,
		space: f.spaceByGUID(spaceGUID), labels: map[string]string{}, annotations: map[string]string{},
		created: f.clockNow(),
	}
	for _, d := range f.domains {
		if d.guid == domainGUID {
			r.domain = d
		}
	}
	for _, d := range dests {
		r.dests = append(r.dests, f.newDest(r, d))
	}
	f.routes = append(f.routes, r)
	return r.guid
}

// AddDestinations maps more destinations to a route behind the client's back, as another operator's
// `cf map-route` or a blue-green push does.
func (f *Fake) AddDestinations(routeGUID string, dests ...Dest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.routeByGUID(routeGUID)
	if r == nil {
		panic("cffake: AddDestinations: no route " + routeGUID) // a broken test, not a CC answer
	}
	for _, d := range dests {
		r.dests = append(r.dests, f.newDest(r, d))
	}
}

func (f *Fake) newDest(r *route, d Dest) *Dest {
	n := withDefaults(r, d)
	n.GUID = f.nextGUID("dest")
	return &n
}

// withDefaults fills in what CC fills in when a destination leaves it out.
func withDefaults(r *route, d Dest) Dest {
	n := d
	if n.Process == "" {
		n.Process = "web"
	}
	if r.domain != nil && r.domain.tcp {
		if n.Protocol == "" {
			n.Protocol = "tcp"
		}
	} else if n.Protocol == "" {
		n.Protocol = "http1"
	}
	if n.Port == 0 {
		n.Port = 8080
	}
	return n
}

// AddUser lets the UAA accept a password grant for name.
func (f *Fake) AddUser(name, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[name] = password
}

// AddClient lets the UAA accept a client_credentials grant for id.
func (f *Fake) AddClient(id, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients[id] = secret
}

// Login issues an access and a refresh token for user, as `cf login` would have stored them. An
// expiry in the past gives a token the client can tell is expired by reading it.
func (f *Fake) Login(user string, expiry time.Time) (accessToken, refreshToken string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tk := &token{user: user, client: "cf"}
	accessToken = f.jwt(tk, expiry)
	refreshToken = "refresh-" + f.nextGUID("refresh")
	f.access[accessToken] = tk
	f.refresh[refreshToken] = tk
	if !expiry.After(f.clockNow()) {
		tk2 := *tk
		tk2.expired = true
		f.access[accessToken] = &tk2
	}
	return accessToken, refreshToken
}

// ExpireToken makes CC refuse an access token although the token itself still claims to be valid,
// as happens when clocks disagree or the token was revoked.
func (f *Fake) ExpireToken(accessToken string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tk, ok := f.access[accessToken]; ok {
		tk2 := *tk
		tk2.expired = true
		f.access[accessToken] = &tk2
	}
}

// SetPerPage changes the default page size, so pagination shows with few resources.
func (f *Fake) SetPerPage(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.perPage = n
}

// Inject adds a fault.
func (f *Fake) Inject(flt Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if flt.Times == 0 {
		flt.Times = 1
	}
	f.faults = append(f.faults, &flt)
}

// ClearFaults removes every fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Destinations returns a copy of a route's destinations.
func (f *Fake) Destinations(routeGUID string) []Dest {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.routeByGUID(routeGUID)
	if r == nil {
		return nil
	}
	out := make([]Dest, 0, len(r.dests))
	for _, d := range r.dests {
		out = append(out, *d)
	}
	return out
}

// Metadata returns copies of a route's labels and annotations.
func (f *Fake) Metadata(routeGUID string) (labels, annotations map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.routeByGUID(routeGUID)
	if r == nil {
		return nil, nil
	}
	labels, annotations = map[string]string{}, map[string]string{}
	for k, v := range r.labels {
		labels[k] = v
	}
	for k, v := range r.annotations {
		annotations[k] = v
	}
	return labels, annotations
}

// Emptied lists the routes that at some moment had no destination left although they had one.
func (f *Fake) Emptied() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.emptied)
}

// Calls lists the requests served, as "METHOD /path?query".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Grants counts the tokens issued per grant type.
func (f *Fake) Grants(grantType string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grants[grantType]
}

func (f *Fake) spaceByGUID(guid string) *space {
	for _, s := range f.spaces {
		if s.guid == guid {
			return s
		}
	}
	return nil
}

func (f *Fake) routeByGUID(guid string) *route {
	for _, r := range f.routes {
		if r.guid == guid {
			return r
		}
	}
	return nil
}

func (f *Fake) appByGUID(guid string) *app {
	for _, a := range f.apps {
		if a.guid == guid {
			return a
		}
	}
	return nil
}

// jwt builds a token shaped like UAA's, so that clients reading its claims (exp, user_name) work.
// The signature is not checked by anyone here, as CC would; the fake checks its own table instead.
func (f *Fake) jwt(tk *token, expiry time.Time) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"fake","typ":"JWT"}`))
	claims := map[string]any{
		"jti": f.nextGUID("jti"), "exp": expiry.Unix(), "iat": f.clockNow().Unix(),
		"client_id": tk.client, "scope": []string{"cloud_controller.read", "cloud_controller.write"},
	}
	if tk.user != "" {
		claims["user_name"] = tk.user
	}
	body, _ := json.Marshal(claims)
	return head + "." + enc.EncodeToString(body) + "." + enc.EncodeToString([]byte("fake-signature"))
}

func (f *Fake) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", f.root)
	mux.HandleFunc("POST /uaa/oauth/token", f.token)
	mux.HandleFunc("GET /v3/organizations", f.authed(f.listOrgs))
	mux.HandleFunc("GET /v3/spaces", f.authed(f.listSpaces))
	mux.HandleFunc("GET /v3/apps", f.authed(f.listApps))
	mux.HandleFunc("GET /v3/domains/{guid}", f.authed(f.getDomain))
	mux.HandleFunc("GET /v3/routes", f.authed(f.listRoutes))
	mux.HandleFunc("GET /v3/routes/{guid}", f.authed(f.getRoute))
	mux.HandleFunc("PATCH /v3/routes/{guid}", f.authed(f.patchRoute))
	mux.HandleFunc("GET /v3/routes/{guid}/destinations", f.authed(f.getDests))
	mux.HandleFunc("POST /v3/routes/{guid}/destinations", f.authed(f.insertDests))
	mux.HandleFunc("PATCH /v3/routes/{guid}/destinations", f.authed(f.replaceDests))
	mux.HandleFunc("DELETE /v3/routes/{guid}/destinations/{dest}", f.authed(f.deleteDest))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		ccError(w, http.StatusNotFound, 10000, "CF-NotFound", "Unknown request")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
		flt := f.matchFault(r)
		f.mu.Unlock()
		if flt != nil {
			if flt.RetryAfter != "" {
				w.Header().Set("Retry-After", flt.RetryAfter)
			}
			ccError(w, flt.Status, flt.Code, flt.Title, flt.Detail)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (f *Fake) matchFault(r *http.Request) *Fault {
	for _, flt := range f.faults {
		if flt.Method != r.Method {
			continue
		}
		if p, ok := strings.CutSuffix(flt.Path, "*"); ok {
			if !strings.HasPrefix(r.URL.Path, p) {
				continue
			}
		} else if flt.Path != r.URL.Path {
			continue
		}
		flt.seen++
		if flt.seen <= flt.After || (flt.Times >= 0 && flt.failed >= flt.Times) {
			continue
		}
		flt.failed++
		return flt
	}
	return nil
}

func ccError(w http.ResponseWriter, status, code int, title, detail string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{"code": code, "title": title, "detail": detail}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *Fake) authed(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "bearer") {
			ccError(w, http.StatusUnauthorized, 10002, "CF-NotAuthenticated", "Authentication error")
			return
		}
		f.mu.Lock()
		tk, known := f.access[tok]
		f.mu.Unlock()
		if !known || tk.expired {
			ccError(w, http.StatusUnauthorized, 1000, "CF-InvalidAuthToken", "Invalid Auth Token")
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		h(w, r)
	}
}

func (f *Fake) root(w http.ResponseWriter, _ *http.Request) {
	link := func(p string) map[string]any { return map[string]any{"href": f.URL + p} }
	writeJSON(w, http.StatusOK, map[string]any{"links": map[string]any{
		"self":                link(""),
		"cloud_controller_v2": nil,
		"cloud_controller_v3": map[string]any{"href": f.URL + "/v3", "meta": map[string]any{"version": "3.180.0"}},
		"login":               link("/uaa"),
		"uaa":                 link("/uaa"),
		"app_ssh":             map[string]any{"href": "ssh.example.com:2222", "meta": map[string]any{"oauth_client": "ssh-proxy"}},
	}})
}

func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	clientID, secret, ok := r.BasicAuth()
	if !ok {
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	deny := func(code, desc string) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": code, "error_description": desc})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var tk *token
	var refresh string
	grant := r.PostForm.Get("grant_type")
	switch grant {
	case "password":
		if clientID != "cf" && f.clients[clientID] != secret {
			deny("unauthorized", "Bad credentials")
			return
		}
		user := r.PostForm.Get("username")
		if pw, ok := f.users[user]; !ok || pw != r.PostForm.Get("password") {
			deny("unauthorized", "Bad credentials")
			return
		}
		tk = &token{user: user, client: clientID}
		refresh = "refresh-" + f.nextGUID("refresh")
		f.refresh[refresh] = tk
	case "refresh_token":
		refresh = r.PostForm.Get("refresh_token")
		old, ok := f.refresh[refresh]
		if !ok {
			deny("invalid_token", "Invalid refresh token (expired)")
			return
		}
		tk = &token{user: old.user, client: old.client}
	case "client_credentials":
		if want, ok := f.clients[clientID]; !ok || want != secret {
			deny("unauthorized", "Bad credentials")
			return
		}
		tk = &token{client: clientID}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type", "error_description": grant})
		return
	}
	f.grants[grant]++
	access := f.jwt(tk, f.clockNow().Add(10*time.Minute))
	f.access[access] = tk
	resp := map[string]any{
		"access_token": access, "token_type": "bearer", "expires_in": 599,
		"scope": "cloud_controller.read cloud_controller.write", "jti": f.nextGUID("jti"),
	}
	if refresh != "" {
		resp["refresh_token"] = refresh
	}
	writeJSON(w, http.StatusOK, resp)
}

// filter returns the comma-separated values of a list filter, or nil when absent.
func filter(q url.Values, name string) []string {
	if !q.Has(name) {
		return nil
	}
	return strings.Split(q.Get(name), ",")
}

func (f *Fake) paginate(w http.ResponseWriter, r *http.Request, n int, render func(i int) any, included any) {
	q := r.URL.Query()
	page, perPage := 1, f.perPage
	var err error
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			ccError(w, http.StatusBadRequest, 10005, "CF-BadQueryParameter", "The query parameter is invalid: Page must be greater than 0")
			return
		}
	}
	if v := q.Get("per_page"); v != "" {
		if perPage, err = strconv.Atoi(v); err != nil || perPage < 1 || perPage > 5000 {
			ccError(w, http.StatusBadRequest, 10005, "CF-BadQueryParameter", "The query parameter is invalid: Per page must be between 1 and 5000")
			return
		}
	}
	pages := max(1, (n+perPage-1)/perPage)
	href := func(p int) map[string]any {
		q2 := r.URL.Query()
		q2.Set("page", strconv.Itoa(p))
		q2.Set("per_page", strconv.Itoa(perPage))
		return map[string]any{"href": f.URL + r.URL.Path + "?" + q2.Encode()}
	}
	pagination := map[string]any{
		"total_results": n, "total_pages": pages, "first": href(1), "last": href(pages),
		"next": nil, "previous": nil,
	}
	if page < pages {
		pagination["next"] = href(page + 1)
	}
	if page > 1 {
		pagination["previous"] = href(page - 1)
	}
	resources := []any{}
	for i := (page - 1) * perPage; i < min(n, page*perPage); i++ {
		resources = append(resources, render(i))
	}
	body := map[string]any{"pagination": pagination, "resources": resources}
	if included != nil {
		body["included"] = included
	}
	writeJSON(w, http.StatusOK, body)
}

func (f *Fake) listOrgs(w http.ResponseWriter, r *http.Request) {
	names := filter(r.URL.Query(), "names")
	var out []*org
	for _, o := range f.orgs {
		if names == nil || slices.Contains(names, o.name) {
			out = append(out, o)
		}
	}
	f.paginate(w, r, len(out), func(i int) any {
		return map[string]any{"guid": out[i].guid, "name": out[i].name, "suspended": false,
			"metadata": map[string]any{"labels": map[string]any{}, "annotations": map[string]any{}}}
	}, nil)
}

func (f *Fake) listSpaces(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	names, orgs := filter(q, "names"), filter(q, "organization_guids")
	var out []*space
	for _, s := range f.spaces {
		if (names == nil || slices.Contains(names, s.name)) && (orgs == nil || slices.Contains(orgs, s.org.guid)) {
			out = append(out, s)
		}
	}
	f.paginate(w, r, len(out), func(i int) any {
		s := out[i]
		return map[string]any{"guid": s.guid, "name": s.name,
			"relationships": map[string]any{"organization": map[string]any{"data": map[string]any{"guid": s.org.guid}}}}
	}, nil)
}

func (f *Fake) listApps(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	names, spaces, guids := filter(q, "names"), filter(q, "space_guids"), filter(q, "guids")
	var out []*app
	for _, a := range f.apps {
		if (names == nil || slices.Contains(names, a.name)) &&
			(spaces == nil || slices.Contains(spaces, a.space.guid)) &&
			(guids == nil || slices.Contains(guids, a.guid)) {
			out = append(out, a)
		}
	}
	f.paginate(w, r, len(out), func(i int) any {
		a := out[i]
		return map[string]any{"guid": a.guid, "name": a.name, "state": "STARTED",
			"lifecycle":     map[string]any{"type": "buildpack", "data": map[string]any{}},
			"relationships": map[string]any{"space": map[string]any{"data": map[string]any{"guid": a.space.guid}}},
			"metadata":      map[string]any{"labels": map[string]any{}, "annotations": map[string]any{}},
		}
	}, nil)
}

func (f *Fake) domainJSON(d *domain) map[string]any {
	protocols := []string{"http"}
	var group any
	if d.tcp {
		protocols = []string{"tcp"}
		group = map[string]any{"guid": "router-group-tcp"}
	}
	return map[string]any{"guid": d.guid, "name": d.name, "internal": d.internal, "router_group": group,
		"supported_protocols": protocols,
		"metadata":            map[string]any{"labels": map[string]any{}, "annotations": map[string]any{}}}
}

func (f *Fake) getDomain(w http.ResponseWriter, r *http.Request) {
	for _, d := range f.domains {
		if d.guid == r.PathValue("guid") {
			writeJSON(w, http.StatusOK, f.domainJSON(d))
			return
		}
	}
	ccError(w, http.StatusNotFound, 10010, "CF-ResourceNotFound", "Domain not found")
}

func (f *Fake) routeURL(rt *route) string {
	if rt.domain.tcp {
		return fmt.Sprintf("%s:%d", rt.domain.name, rt.port)
	}
	u := rt.domain.name
	if rt.host != "" {
		u = rt.host + "." + u
	}
	return u + rt.path
}

func (f *Fake) destJSON(d *Dest) map[string]any {
	var weight any
	if d.Weight != nil {
		weight = *d.Weight
	}
	return map[string]any{"guid": d.GUID, "app": map[string]any{"guid": d.App, "process": map[string]any{"type": d.Process}},
		"weight": weight, "port": d.Port, "protocol": d.Protocol}
}

func (f *Fake) routeJSON(rt *route) map[string]any {
	dests := []any{}
	for _, d := range rt.dests {
		dests = append(dests, f.destJSON(d))
	}
	var port any
	protocol := "http"
	if rt.domain.tcp {
		port, protocol = rt.port, "tcp"
	}
	self := f.URL + "/v3/routes/" + rt.guid
	return map[string]any{
		"guid": rt.guid, "created_at": rt.created.UTC().Format(time.RFC3339), "updated_at": rt.created.UTC().Format(time.RFC3339),
		"protocol": protocol, "host": rt.host, "path": rt.path, "port": port, "url": f.routeURL(rt),
		"destinations": dests, "options": map[string]any{},
		"metadata": map[string]any{"labels": rt.labels, "annotations": rt.annotations},
		"relationships": map[string]any{
			"space":  map[string]any{"data": map[string]any{"guid": rt.space.guid}},
			"domain": map[string]any{"data": map[string]any{"guid": rt.domain.guid}},
		},
		"links": map[string]any{"self": map[string]any{"href": self}, "destinations": map[string]any{"href": self + "/destinations"},
			"space": map[string]any{"href": f.URL + "/v3/spaces/" + rt.space.guid}, "domain": map[string]any{"href": f.URL + "/v3/domains/" + rt.domain.guid}},
	}
}

// selector is one requirement of a CC label_selector.
type selector struct {
	key    string
	op     string // "exists", "!exists", "in", "notin"
	values []string
}

func parseSelector(s string) ([]selector, error) {
	var parts []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, s[start:])
	var out []selector
	for _, p := range parts {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			return nil, fmt.Errorf("empty requirement")
		case strings.HasPrefix(p, "!"):
			out = append(out, selector{key: p[1:], op: "!exists"})
		case strings.Contains(p, "!="):
			k, v, _ := strings.Cut(p, "!=")
			out = append(out, selector{key: k, op: "notin", values: []string{v}})
		case strings.Contains(p, "=="):
			k, v, _ := strings.Cut(p, "==")
			out = append(out, selector{key: k, op: "in", values: []string{v}})
		case strings.Contains(p, "="):
			k, v, _ := strings.Cut(p, "=")
			out = append(out, selector{key: k, op: "in", values: []string{v}})
		case strings.Contains(p, " notin ("):
			k, v, _ := strings.Cut(p, " notin (")
			out = append(out, selector{key: k, op: "notin", values: strings.Split(strings.TrimSuffix(v, ")"), ",")})
		case strings.Contains(p, " in ("):
			k, v, _ := strings.Cut(p, " in (")
			out = append(out, selector{key: k, op: "in", values: strings.Split(strings.TrimSuffix(v, ")"), ",")})
		default:
			out = append(out, selector{key: p, op: "exists"})
		}
	}
	return out, nil
}

func matches(labels map[string]string, sels []selector) bool {
	for _, s := range sels {
		v, ok := labels[s.key]
		switch s.op {
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		case "in":
			if !ok || !slices.Contains(s.values, v) {
				return false
			}
		case "notin":
			if ok && slices.Contains(s.values, v) {
				return false
			}
		}
	}
	return true
}

func (f *Fake) listRoutes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	apps, spaces, hosts, paths := filter(q, "app_guids"), filter(q, "space_guids"), filter(q, "hosts"), filter(q, "paths")
	var sels []selector
	if q.Has("label_selector") {
		var err error
		if sels, err = parseSelector(q.Get("label_selector")); err != nil {
			ccError(w, http.StatusBadRequest, 10005, "CF-BadQueryParameter", "The query parameter is invalid: Invalid label_selector value")
			return
		}
	}
	var out []*route
	for _, rt := range f.routes {
		if spaces != nil && !slices.Contains(spaces, rt.space.guid) ||
			hosts != nil && !slices.Contains(hosts, rt.host) ||
			paths != nil && !slices.Contains(paths, rt.path) ||
			!matches(rt.labels, sels) {
			continue
		}
		if apps != nil && !slices.ContainsFunc(rt.dests, func(d *Dest) bool { return slices.Contains(apps, d.App) }) {
			continue
		}
		out = append(out, rt)
	}
	var included any
	if slices.Contains(filter(q, "include"), "domain") {
		doms := []any{}
		seen := map[string]bool{}
		for _, rt := range out {
			if !seen[rt.domain.guid] {
				seen[rt.domain.guid] = true
				doms = append(doms, f.domainJSON(rt.domain))
			}
		}
		included = map[string]any{"domains": doms}
	}
	f.paginate(w, r, len(out), func(i int) any { return f.routeJSON(out[i]) }, included)
}

func (f *Fake) routeOr404(w http.ResponseWriter, r *http.Request) *route {
	rt := f.routeByGUID(r.PathValue("guid"))
	if rt == nil {
		ccError(w, http.StatusNotFound, 10010, "CF-ResourceNotFound", "Route not found")
	}
	return rt
}

func (f *Fake) getRoute(w http.ResponseWriter, r *http.Request) {
	if rt := f.routeOr404(w, r); rt != nil {
		writeJSON(w, http.StatusOK, f.routeJSON(rt))
	}
}

var (
	metaName   = regexp.MustCompile(`^[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?$`)
	metaPrefix = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

func validKey(k string) bool {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		name, prefix = prefix, ""
	}
	if found && (len(prefix) > 253 || !metaPrefix.MatchString(prefix) || strings.Contains(name, "/")) {
		return false
	}
	return metaName.MatchString(name)
}

func (f *Fake) patchRoute(w http.ResponseWriter, r *http.Request) {
	rt := f.routeOr404(w, r)
	if rt == nil {
		return
	}
	var body struct {
		Metadata *struct {
			Labels      map[string]*string `json:"labels"`
			Annotations map[string]*string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		ccError(w, http.StatusBadRequest, 1001, "CF-MessageParseError", "Request invalid due to parse error: invalid request body")
		return
	}
	if body.Metadata != nil {
		for k, v := range body.Metadata.Labels {
			if !validKey(k) || v != nil && len(*v) > 63 || v != nil && *v != "" && !metaName.MatchString(*v) {
				ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", fmt.Sprintf("Metadata label key or value error: %q", k))
				return
			}
		}
		for k, v := range body.Metadata.Annotations {
			if !validKey(k) {
				ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", fmt.Sprintf("Metadata annotations error: key %q is invalid", k))
				return
			}
			if v != nil && len(*v) > 5000 {
				ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", fmt.Sprintf("Metadata annotations error: value of %q is greater than 5000 characters", k))
				return
			}
		}
		apply := func(dst map[string]string, src map[string]*string) {
			for k, v := range src {
				if v == nil {
					delete(dst, k)
				} else {
					dst[k] = *v
				}
			}
		}
		apply(rt.labels, body.Metadata.Labels)
		apply(rt.annotations, body.Metadata.Annotations)
	}
	writeJSON(w, http.StatusOK, f.routeJSON(rt))
}

func (f *Fake) destsBody(rt *route) map[string]any {
	dests := []any{}
	for _, d := range rt.dests {
		dests = append(dests, f.destJSON(d))
	}
	self := f.URL + "/v3/routes/" + rt.guid
	return map[string]any{"destinations": dests,
		"links": map[string]any{"self": map[string]any{"href": self + "/destinations"}, "route": map[string]any{"href": self}}}
}

func (f *Fake) getDests(w http.ResponseWriter, r *http.Request) {
	if rt := f.routeOr404(w, r); rt != nil {
		writeJSON(w, http.StatusOK, f.destsBody(rt))
	}
}

// readDests decodes and checks a destinations request the way CC does, answering the error itself.
func (f *Fake) readDests(w http.ResponseWriter, r *http.Request, rt *route) ([]Dest, bool) {
	var body struct {
		Destinations []struct {
			App struct {
				GUID    string `json:"guid"`
				Process *struct {
					Type string `json:"type"`
				} `json:"process"`
			} `json:"app"`
			Weight   *int    `json:"weight"`
			Port     *int    `json:"port"`
			Protocol *string `json:"protocol"`
		} `json:"destinations"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Destinations == nil {
		ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", "Destinations must be an array containing between 1 and 100 destination objects.")
		return nil, false
	}
	var out []Dest
	var missing []string
	for _, d := range body.Destinations {
		a := f.appByGUID(d.App.GUID)
		if a == nil || a.space != rt.space {
			missing = append(missing, d.App.GUID)
			continue
		}
		n := Dest{App: d.App.GUID, Weight: d.Weight}
		if d.App.Process != nil {
			n.Process = d.App.Process.Type
		}
		if d.Port != nil {
			n.Port = *d.Port
		}
		if d.Protocol != nil {
			n.Protocol = *d.Protocol
			ok := n.Protocol == "http1" || n.Protocol == "http2"
			if rt.domain.tcp {
				ok = n.Protocol == "tcp"
			}
			if !ok {
				ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", fmt.Sprintf("Destinations[0]: protocol %q is not valid for this route", n.Protocol))
				return nil, false
			}
		}
		out = append(out, n)
	}
	if len(missing) > 0 {
		ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity",
			fmt.Sprintf("App(s) with guid(s) %q do not exist or you do not have access.", strings.Join(missing, ", ")))
		return nil, false
	}
	return out, true
}

func same(a *Dest, b Dest, r *route) bool {
	n := withDefaults(r, b)
	return a.App == n.App && a.Process == n.Process && a.Port == n.Port && a.Protocol == n.Protocol
}

func (f *Fake) changed(rt *route, before int) {
	if before > 0 && len(rt.dests) == 0 {
		f.emptied = append(f.emptied, rt.guid)
	}
}

func (f *Fake) insertDests(w http.ResponseWriter, r *http.Request) {
	rt := f.routeOr404(w, r)
	if rt == nil {
		return
	}
	in, ok := f.readDests(w, r, rt)
	if !ok {
		return
	}
	for _, d := range in {
		if d.Weight != nil {
			ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", "Weighted destinations can only be used when replacing all destinations.")
			return
		}
	}
	if slices.ContainsFunc(rt.dests, func(d *Dest) bool { return d.Weight != nil }) {
		ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", "Destinations cannot be inserted when there are weighted destinations already configured.")
		return
	}
	for _, d := range in {
		if !slices.ContainsFunc(rt.dests, func(e *Dest) bool { return same(e, d, rt) }) {
			rt.dests = append(rt.dests, f.newDest(rt, d))
		}
	}
	writeJSON(w, http.StatusOK, f.destsBody(rt))
}

func (f *Fake) replaceDests(w http.ResponseWriter, r *http.Request) {
	rt := f.routeOr404(w, r)
	if rt == nil {
		return
	}
	in, ok := f.readDests(w, r, rt)
	if !ok {
		return
	}
	weighted, sum := 0, 0
	for _, d := range in {
		if d.Weight != nil {
			weighted++
			sum += *d.Weight
		}
	}
	if weighted != 0 && (weighted != len(in) || sum != 100) {
		ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", "Destinations cannot contain both weighted and unweighted destinations, and weights must sum to 100.")
		return
	}
	before := len(rt.dests)
	var next []*Dest
	for _, d := range in {
		if i := slices.IndexFunc(rt.dests, func(e *Dest) bool { return same(e, d, rt) }); i >= 0 && slices.Equal(ptrs(rt.dests[i].Weight), ptrs(d.Weight)) {
			next = append(next, rt.dests[i])
			continue
		}
		next = append(next, f.newDest(rt, d))
	}
	rt.dests = next
	f.changed(rt, before)
	writeJSON(w, http.StatusOK, f.destsBody(rt))
}

func ptrs(p *int) []int {
	if p == nil {
		return nil
	}
	return []int{*p}
}

func (f *Fake) deleteDest(w http.ResponseWriter, r *http.Request) {
	rt := f.routeOr404(w, r)
	if rt == nil {
		return
	}
	i := slices.IndexFunc(rt.dests, func(d *Dest) bool { return d.GUID == r.PathValue("dest") })
	if i < 0 {
		ccError(w, http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", "Unable to unmap route from destination. Ensure the route has a destination with this guid.")
		return
	}
	before := len(rt.dests)
	rt.dests = slices.Delete(rt.dests, i, i+1)
	f.changed(rt, before)
	w.WriteHeader(http.StatusNoContent)
}
