package cffake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	// Lost carries the request out first and then answers with the fault: CC did the deed and the
	// answer was lost on the way (a router's 502, a timeout), which a client cannot tell apart.
	Lost bool

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

	instances   []*instance
	bindings    []*binding
	appBindings []*appBinding

	access   map[string]*token // access token → what it stands for
	refresh  map[string]*token // refresh token → whom it renews
	users    map[string]string
	clients  map[string]string
	faults   []*Fault
	emptied  []string
	calls    []string
	grants   map[string]int
	perPage  int
	rotate   bool
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

// withDefaults fills in what CC fills in when a destination leaves it out: process web
// (app/messages/route_update_destinations_message.rb), port 8080 for a buildpack app and the
// protocol of the route's kind (app/actions/update_route_destinations.rb: update_port,
// update_protocol, RouteMappingModel::DEFAULT_PROTOCOL_MAPPING).
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

// RotateRefreshTokens makes the UAA answer every refresh_token grant with a new refresh token and
// revoke the one used, as UAA does with refresh tokens that are not reusable
// (jwt.token.refresh.rotate).
func (f *Fake) RotateRefreshTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rotate = true
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
	mux.HandleFunc("GET /v3/service_instances", f.authed(f.listInstances))
	mux.HandleFunc("POST /v3/service_instances", f.authed(f.createInstance))
	mux.HandleFunc("DELETE /v3/service_instances/{guid}", f.authed(f.deleteInstance))
	mux.HandleFunc("GET /v3/service_route_bindings", f.authed(f.listBindings))
	mux.HandleFunc("POST /v3/service_route_bindings", f.authed(f.createBinding))
	mux.HandleFunc("DELETE /v3/service_route_bindings/{guid}", f.authed(f.deleteBinding))
	mux.HandleFunc("GET /v3/service_credential_bindings", f.authed(f.listCredentialBindings))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		ccError(w, http.StatusNotFound, 10000, "CF-NotFound", "Unknown request")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
		flt := f.matchFault(r)
		f.mu.Unlock()
		if flt != nil {
			if flt.Lost {
				mux.ServeHTTP(httptest.NewRecorder(), r)
			}
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

// rubyToI is Ruby's String#to_i: the leading digits (after an optional sign), 0 when there are none.
func rubyToI(v string) int {
	v = strings.TrimSpace(v)
	end := 0
	if end < len(v) && (v[0] == '-' || v[0] == '+') {
		end++
	}
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(v[:end])
	return n
}

// authed checks the token as CC's security context does: no bearer token is NotAuthenticated
// (errors/v2.yml 10002), a token it does not accept is InvalidAuthToken (1000), both 401.
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
		if f.rotate {
			delete(f.refresh, refresh)
			refresh = "refresh-" + f.nextGUID("refresh")
			f.refresh[refresh] = tk
		}
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

// paginate answers one page of a list as CC's PaginatedListPresenter does. page and per_page follow
// ListMessage::PaginationPageValidator (app/messages/list_message.rb): Ruby's to_i reads the
// leading digits, a page must be positive, and per_page between 1 and 5000.
func (f *Fake) paginate(w http.ResponseWriter, r *http.Request, n int, render func(i int) any, included any) {
	q := r.URL.Query()
	page, perPage := 1, f.perPage
	var errs []string
	if q.Has("page") {
		if page = rubyToI(q.Get("page")); page < 1 {
			errs = append(errs, "Page must be a positive integer")
		}
	}
	if q.Has("per_page") {
		switch perPage = rubyToI(q.Get("per_page")); {
		case perPage < 1:
			errs = append(errs, "Per page must be a positive integer")
		case perPage > 5000:
			errs = append(errs, "Per page must be between 1 and 5000")
		}
	}
	if len(errs) > 0 {
		fail(w, badQuery(errs...))
		return
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

// fail writes a CC error.
func fail(w http.ResponseWriter, e *apiError) { ccError(w, e.status, e.code, e.title, e.detail) }

// checkList validates a list request's query as CC's list message would, answering 400 itself.
func checkList(w http.ResponseWriter, r *http.Request, lp listParams) ([]*requirement, bool) {
	reqs, errs := lp.check(r.URL.Query())
	if len(errs) > 0 {
		fail(w, badQuery(errs...))
		return nil, false
	}
	return reqs, true
}

// readBody decodes a JSON object body; CC answers MessageParseError to anything else
// (app/controllers/v3/application_controller.rb, hashed_params).
func readBody(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body == nil {
		fail(w, parseError("invalid request body"))
		return nil, false
	}
	return body, true
}

func unknownFields(body map[string]json.RawMessage, allowed ...string) []string {
	var extra []string
	for k := range body {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return []string{fmt.Sprintf("Unknown field(s): '%s'", strings.Join(extra, "', '"))}
}

func (f *Fake) listOrgs(w http.ResponseWriter, r *http.Request) {
	reqs, ok := checkList(w, r, orgsList)
	if !ok {
		return
	}
	names := filter(r.URL.Query(), "names")
	var out []*org
	for _, o := range f.orgs {
		if (names == nil || slices.Contains(names, o.name)) && matches(nil, reqs) {
			out = append(out, o)
		}
	}
	f.paginate(w, r, len(out), func(i int) any {
		return map[string]any{"guid": out[i].guid, "name": out[i].name, "suspended": false,
			"metadata": map[string]any{"labels": map[string]any{}, "annotations": map[string]any{}}}
	}, nil)
}

func (f *Fake) listSpaces(w http.ResponseWriter, r *http.Request) {
	reqs, ok := checkList(w, r, spacesList)
	if !ok {
		return
	}
	q := r.URL.Query()
	names, orgs := filter(q, "names"), filter(q, "organization_guids")
	var out []*space
	for _, s := range f.spaces {
		if (names == nil || slices.Contains(names, s.name)) && (orgs == nil || slices.Contains(orgs, s.org.guid)) && matches(nil, reqs) {
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
	reqs, ok := checkList(w, r, appsList)
	if !ok {
		return
	}
	q := r.URL.Query()
	names, spaces, guids := filter(q, "names"), filter(q, "space_guids"), filter(q, "guids")
	var out []*app
	for _, a := range f.apps {
		if (names == nil || slices.Contains(names, a.name)) &&
			(spaces == nil || slices.Contains(spaces, a.space.guid)) &&
			(guids == nil || slices.Contains(guids, a.guid)) && matches(nil, reqs) {
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
	fail(w, notFound("Domain"))
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

func (f *Fake) listRoutes(w http.ResponseWriter, r *http.Request) {
	reqs, ok := checkList(w, r, routesList)
	if !ok {
		return
	}
	if slices.Contains(reqs, nil) {
		// RoutesListMessage does not validate the selector, and RouteFetcher then calls a method
		// on the unparsed (nil) requirement (app/fetchers/label_selector_query_generator.rb).
		fail(w, unknownError())
		return
	}
	q := r.URL.Query()
	apps, spaces, hosts, paths := filter(q, "app_guids"), filter(q, "space_guids"), filter(q, "hosts"), filter(q, "paths")
	instances := filter(q, "service_instance_guids")
	var out []*route
	for _, rt := range f.routes {
		if spaces != nil && !slices.Contains(spaces, rt.space.guid) ||
			hosts != nil && !slices.Contains(hosts, rt.host) ||
			paths != nil && !slices.Contains(paths, rt.path) ||
			!matches(rt.labels, reqs) {
			continue
		}
		if apps != nil && !slices.ContainsFunc(rt.dests, func(d *Dest) bool { return slices.Contains(apps, d.App) }) {
			continue
		}
		if instances != nil && !slices.ContainsFunc(f.bindings, func(b *binding) bool {
			return b.route == rt && slices.Contains(instances, b.instance.guid)
		}) {
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
		fail(w, notFound("Route"))
	}
	return rt
}

func (f *Fake) getRoute(w http.ResponseWriter, r *http.Request) {
	if rt := f.routeOr404(w, r); rt != nil {
		writeJSON(w, http.StatusOK, f.routeJSON(rt))
	}
}

// patchRoute is RoutesController#update with RouteUpdateMessage (app/messages/route_update_message.rb:
// metadata and options only, MetadataValidator on metadata).
func (f *Fake) patchRoute(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	errs := unknownFields(body, "metadata", "options")
	if m, ok := body["metadata"]; ok {
		errs = append(errs, metadataErrors(m)...)
	}
	if len(errs) > 0 {
		fail(w, unprocessable(errs...))
		return
	}
	rt := f.routeOr404(w, r)
	if rt == nil {
		return
	}
	if m, ok := body["metadata"]; ok {
		applyMetadata(m, rt.labels, rt.annotations)
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
	if _, ok := checkList(w, r, destinationsList); !ok {
		return
	}
	if rt := f.routeOr404(w, r); rt != nil {
		writeJSON(w, http.StatusOK, f.destsBody(rt))
	}
}

// readDests checks a destinations request the way RoutesController#insert_destinations and
// #replace_destinations do (app/controllers/v3/routes_controller.rb): the message first, then the
// route, then the apps (apps_hash: they must exist and be in the route's space), and fills in CC's
// defaults (app/actions/update_route_destinations.rb: update_port, update_protocol).
func (f *Fake) readDests(w http.ResponseWriter, r *http.Request, replace bool) (*route, []Dest, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return nil, nil, false
	}
	in, errs := destinationErrors(body, replace)
	if len(errs) > 0 {
		fail(w, unprocessable(errs...))
		return nil, nil, false
	}
	rt := f.routeOr404(w, r)
	if rt == nil {
		return nil, nil, false
	}
	var missing []string
	var out []Dest
	otherSpace := false
	for _, d := range in {
		a := f.appByGUID(d.app)
		if a == nil {
			if !slices.Contains(missing, d.app) {
				missing = append(missing, d.app)
			}
			continue
		}
		if a.space != rt.space {
			otherSpace = true
		}
		out = append(out, withDefaults(rt, Dest{App: d.app, Process: d.process, Port: d.port, Protocol: d.protocol, Weight: d.weight}))
	}
	switch {
	case len(missing) > 0:
		fail(w, unprocessable(fmt.Sprintf(`App(s) with guid(s) "%s" do not exist.`, strings.Join(missing, `", "`))))
		return nil, nil, false
	case otherSpace:
		fail(w, unprocessable("Routes destinations must be in either the route's space or the route's shared spaces"))
		return nil, nil, false
	}
	return rt, out, true
}

// sameMapping compares two destinations the way UpdateRouteDestinations compares mapping hashes:
// app, process, port, weight and protocol.
func sameMapping(a, b Dest) bool {
	return a.App == b.App && a.Process == b.Process && a.Port == b.Port && a.Protocol == b.Protocol &&
		slices.Equal(ptrs(a.Weight), ptrs(b.Weight))
}

// checkMappings is UpdateRouteDestinations' validate_max_destinations! and validate_unique!
// (app/actions/update_route_destinations.rb).
func checkMappings(existing int, in []Dest) *apiError {
	if existing+len(in) > 100 {
		return unprocessable("Routes can be mapped to at most 100 destinations.")
	}
	for i := range in {
		for j := range i {
			if sameMapping(in[i], in[j]) {
				return unprocessable("Destinations cannot contain duplicate entries")
			}
		}
	}
	return nil
}

// protocolError is validate_protocol_matches! (app/actions/update_route_destinations.rb).
func protocolError(rt *route, d Dest) string {
	if rt.domain.tcp == (d.Protocol == "tcp") {
		return ""
	}
	if rt.domain.tcp {
		return fmt.Sprintf("Cannot use '%s' protocol for tcp routes; valid options are: [tcp].", d.Protocol)
	}
	return fmt.Sprintf("Cannot use '%s' protocol for http routes; valid options are: [http1, http2].", d.Protocol)
}

func (f *Fake) changed(rt *route, before int) {
	if before > 0 && len(rt.dests) == 0 {
		f.emptied = append(f.emptied, rt.guid)
	}
}

// insertDests is UpdateRouteDestinations.add (app/actions/update_route_destinations.rb).
func (f *Fake) insertDests(w http.ResponseWriter, r *http.Request) {
	rt, in, ok := f.readDests(w, r, false)
	if !ok {
		return
	}
	if e := checkMappings(len(rt.dests), in); e != nil {
		fail(w, e)
		return
	}
	if slices.ContainsFunc(rt.dests, func(d *Dest) bool { return d.Weight != nil }) {
		fail(w, unprocessable("Destinations cannot be inserted when there are weighted destinations already configured."))
		return
	}
	var add []Dest
	for _, d := range in {
		i := slices.IndexFunc(rt.dests, func(e *Dest) bool { return e.App == d.App && e.Process == d.Process && e.Port == d.Port })
		if i < 0 {
			add = append(add, d)
			continue
		}
		if rt.dests[i].Protocol != d.Protocol {
			fail(w, unprocessable(fmt.Sprintf("Cannot add destination with protocol: %s. Destination already exists for route: %s, app: %s, process: %s, and protocol: %s.",
				d.Protocol, f.routeURL(rt), d.App, d.Process, rt.dests[i].Protocol)))
			return
		}
	}
	for _, d := range add {
		if e := protocolError(rt, d); e != "" {
			fail(w, unprocessable(e))
			return
		}
	}
	for _, d := range add {
		rt.dests = append(rt.dests, f.newDest(rt, d))
	}
	writeJSON(w, http.StatusOK, f.destsBody(rt))
}

// replaceDests is UpdateRouteDestinations.replace. RoutesController#replace_destinations rescues
// only DuplicateDestinationError, so the action's other errors (a protocol that does not fit the
// route, too many destinations) reach the client as CC's 500.
func (f *Fake) replaceDests(w http.ResponseWriter, r *http.Request) {
	rt, in, ok := f.readDests(w, r, true)
	if !ok {
		return
	}
	if e := checkMappings(0, in); e != nil {
		if e.detail != "Destinations cannot contain duplicate entries" {
			e = unknownError()
		}
		fail(w, e)
		return
	}
	for _, d := range in {
		if protocolError(rt, d) != "" && !slices.ContainsFunc(rt.dests, func(e *Dest) bool { return sameMapping(*e, d) }) {
			fail(w, unknownError())
			return
		}
	}
	before := len(rt.dests)
	var next []*Dest
	for _, d := range in {
		if i := slices.IndexFunc(rt.dests, func(e *Dest) bool { return sameMapping(*e, d) }); i >= 0 {
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

// deleteDest is RoutesController#destroy_destination and UpdateRouteDestinations.delete.
func (f *Fake) deleteDest(w http.ResponseWriter, r *http.Request) {
	rt := f.routeOr404(w, r)
	if rt == nil {
		return
	}
	i := slices.IndexFunc(rt.dests, func(d *Dest) bool { return d.GUID == r.PathValue("dest") })
	if i < 0 {
		fail(w, unprocessable("Unable to unmap route from destination. Ensure the route has a destination with this guid."))
		return
	}
	if rt.dests[i].Weight != nil {
		fail(w, unprocessable("Weighted destinations cannot be deleted individually."))
		return
	}
	before := len(rt.dests)
	rt.dests = slices.Delete(rt.dests, i, i+1)
	f.changed(rt, before)
	w.WriteHeader(http.StatusNoContent)
}
