package cffake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ids names what a scene holds, for the placeholders in a case's path and body.
type ids map[string]string

// scene is a foundation with what every refusal needs: an app and a second app in one space, an
// app in another space, HTTP, internal and TCP routes, a weighted route, and route services.
func scene(t *testing.T) (*Fake, ids, string) {
	f := New(t)
	o := f.AddOrg("acme")
	sp := f.AddSpace(o, "prod")
	other := f.AddSpace(o, "staging")
	web := f.AddDomain("example.com", HTTPDomain)
	internal := f.AddDomain("apps.internal", InternalDomain)
	tcp := f.AddDomain("tcp.example.com", TCPDomain)
	app, app2, far := f.AddApp(sp, "my-app"), f.AddApp(sp, "green"), f.AddApp(other, "far")
	fifty := 50
	weighted := f.AddRoute(sp, web, "split", "", 0, Dest{App: app, Weight: &fifty}, Dest{App: app2, Weight: &fifty})
	m := ids{
		"APP": app, "APP2": app2, "FAR": far, "SPACE": sp,
		"ROUTE":    f.AddRoute(sp, web, "my-app", "", 0, Dest{App: app}),
		"INTERNAL": f.AddRoute(sp, internal, "my-app", "", 0, Dest{App: app}),
		"TCP":      f.AddRoute(sp, tcp, "", "", 1024, Dest{App: app}),
		"FARROUTE": f.AddRoute(other, web, "far", "", 0, Dest{App: far}),
		"WEIGHTED": weighted, "WDEST": f.Destinations(weighted)[0].GUID,
		"RS":      f.AddServiceInstance(sp, "rs", "user-provided", "https://rs.example.com"),
		"RS2":     f.AddServiceInstance(sp, "rs2", "user-provided", "https://rs2.example.com"),
		"PLAIN":   f.AddServiceInstance(sp, "creds", "user-provided", ""),
		"BOUND":   f.AddRoute(sp, web, "bound", "", 0, Dest{App: app}),
		"FARRS":   f.AddServiceInstance(other, "far-rs", "user-provided", "https://rs.example.com"),
		"LONG":    strings.Repeat("a", 64),
		"LONGDNS": strings.Repeat(strings.Repeat("a", 63)+".", 4) + "b", // 254 characters
		"K5000":   strings.Repeat("v", 5000),
		"K5001":   strings.Repeat("v", 5001),
	}
	f.BindRoute(m["RS"], m["BOUND"])
	tok, _ := f.Login("alice", time.Now().Add(time.Hour))
	return f, m, tok
}

func fill(s string, m ids) string {
	for k, v := range m {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

func ports(n int) string {
	var ds []string
	for i := range n {
		ds = append(ds, fmt.Sprintf(`{"app":{"guid":"{APP}"},"port":%d}`, 8080+i))
	}
	return `{"destinations":[` + strings.Join(ds, ",") + `]}`
}

// TestCCRules proves that the fake refuses what the Cloud Controller refuses, with CC's status,
// code and title, and accepts the neighbouring request CC accepts (so a rule is not a blanket no).
func TestCCRules(t *testing.T) {
	t.Parallel()
	type tc struct {
		method, path, body string
		status, code       int
		title, detail      string // detail: a part of CC's message
	}
	const (
		meta  = `PATCH`
		ue    = "CF-UnprocessableEntity"
		bq    = "CF-BadQueryParameter"
		route = "/v3/routes/{ROUTE}"
	)
	refuse := func(method, path, body, detail string) tc {
		return tc{method, path, body, 422, 10008, ue, detail}
	}
	badQ := func(path, detail string) tc { return tc{"GET", path, "", 400, 10005, bq, detail} }
	ok := func(method, path, body string, status int) tc { return tc{method, path, body, status, 0, "", ""} }
	tests := map[string]tc{
		// Metadata keys (metadata_validator_helper.rb, domain_decorator.rb).
		"label key prefix without a dot":    refuse(meta, route, `{"metadata":{"labels":{"maintpage/app":"x"}}}`, "Metadata label key error: prefix 'maintpage' must be in valid dns format"),
		"annotation prefix without a dot":   refuse(meta, route, `{"metadata":{"annotations":{"maintpage/saved":"x"}}}`, "Metadata annotation key error: prefix 'maintpage' must be in valid dns format"),
		"label deleted under a bad key":     refuse(meta, route, `{"metadata":{"labels":{"maintpage/app":null}}}`, "prefix 'maintpage' must be in valid dns format"),
		"annotation deleted under bad key":  ok(meta, route, `{"metadata":{"annotations":{"maintpage/saved":null}}}`, 200),
		"dotted prefix accepted":            ok(meta, route, `{"metadata":{"labels":{"maintpage.github.io/app":"{APP}"},"annotations":{"maintpage.github.io/saved":"{K5000}"}}}`, 200),
		"prefix longer than 253":            refuse(meta, route, `{"metadata":{"labels":{"{LONGDNS}/k":"v"}}}`, "is greater than 253 characters"),
		"prefix label longer than 63":       refuse(meta, route, `{"metadata":{"labels":{"{LONG}.com/k":"v"}}}`, "must be in valid dns format"),
		"reserved prefix":                   refuse(meta, route, `{"metadata":{"labels":{"cloudfoundry.org/k":"v"}}}`, "prefix 'cloudfoundry.org' is reserved"),
		"two slashes":                       refuse(meta, route, `{"metadata":{"labels":{"a.io/b/c":"v"}}}`, "key has more than one '/'"),
		"empty key":                         refuse(meta, route, `{"metadata":{"labels":{"":"v"}}}`, "key cannot be empty string"),
		"empty name after the prefix":       refuse(meta, route, `{"metadata":{"labels":{"a.io/":"v"}}}`, "key cannot be empty string"),
		"name longer than 63":               refuse(meta, route, `{"metadata":{"labels":{"a.io/{LONG}":"v"}}}`, "Metadata label key error: 'aaaaaaaa...' is greater than 63 characters"),
		"name with a space":                 refuse(meta, route, `{"metadata":{"labels":{"a.io/a b":"v"}}}`, "'a b' contains invalid characters"),
		"name not alphanumeric at the ends": refuse(meta, route, `{"metadata":{"labels":{"a.io/-ab":"v"}}}`, "'-ab' starts or ends with invalid characters"),
		"label value longer than 63":        refuse(meta, route, `{"metadata":{"labels":{"a.io/k":"{LONG}"}}}`, "Metadata label value error: 'aaaaaaaa...' is greater than 63 characters"),
		"label value with a slash":          refuse(meta, route, `{"metadata":{"labels":{"a.io/k":"my/app"}}}`, "'my/app' contains invalid characters"),
		"label value ending in a dot":       refuse(meta, route, `{"metadata":{"labels":{"a.io/k":"app."}}}`, "'app.' starts or ends with invalid characters"),
		"empty label value accepted":        ok(meta, route, `{"metadata":{"labels":{"a.io/k":""}}}`, 200),
		"annotation value over 5000":        refuse(meta, route, `{"metadata":{"annotations":{"a.io/k":"{K5001}"}}}`, "Metadata annotation value error: 'vvvvvvvv...' is greater than 5000 characters"),
		"unknown field in a route update":   refuse(meta, route, `{"metadata":{},"name":"x"}`, "Unknown field(s): 'name'"),
		"unknown field in metadata":         refuse(meta, route, `{"metadata":{"tags":{}}}`, "Metadata has unexpected field(s): 'tags'"),
		"body that is not JSON":             {meta, route, `{`, 400, 1001, "CF-MessageParseError", "Request invalid due to parse error"},
		"route that does not exist":         {meta, "/v3/routes/nope", `{"metadata":{}}`, 404, 10010, "CF-ResourceNotFound", "Route not found"},

		// Label selectors (label_selector_requirement_validator.rb on MetadataListMessage lists).
		"selector key without a dot":       badQ("/v3/apps?label_selector=maintpage/app", "prefix 'maintpage' must be in valid dns format"),
		"selector on service instances":    badQ("/v3/service_instances?label_selector=maintpage/app%3Dx", "prefix 'maintpage' must be in valid dns format"),
		"selector value not a label value": badQ("/v3/apps?label_selector=a.io/k%3D-x", "'-x' starts or ends with invalid characters"),
		"selector that does not parse":     badQ("/v3/spaces?label_selector=a%20b%20c", "Invalid label_selector value"),
		"empty selector":                   badQ("/v3/apps?label_selector=", "Missing label_selector value"),
		// RoutesListMessage is a plain ListMessage: CC does not check the selector's keys there.
		"routes do not check selector keys": ok("GET", "/v3/routes?label_selector=maintpage/app", "", 200),

		// Query parameters (NoAdditionalParamsValidator, IncludeParamValidator, PaginationPageValidator).
		"unknown route filter":         badQ("/v3/routes?app_names=my-app", "Unknown query parameter(s): 'app_names'"),
		"unknown app filter":           badQ("/v3/apps?hosts=x", "Unknown query parameter(s): 'hosts'"),
		"unknown binding filter":       badQ("/v3/service_route_bindings?app_guids=x", "Unknown query parameter(s): 'app_guids'"),
		"unknown include":              badQ("/v3/routes?include=app", "Invalid included resource: 'app'"),
		"per_page over 5000":           badQ("/v3/routes?per_page=5001", "Per page must be between 1 and 5000"),
		"unknown destinations filter":  badQ("/v3/routes/{ROUTE}/destinations?include=app", "Unknown query parameter(s): 'include'"),
		"service instance type":        badQ("/v3/service_instances?type=brokered", "Type must be one of 'managed', 'user-provided'"),
		"known filters accepted":       ok("GET", "/v3/routes?app_guids={APP}&include=domain&label_selector=a.io/k&per_page=5000&service_instance_guids={RS}", "", 200),
		"binding filters accepted":     ok("GET", "/v3/service_route_bindings?route_guids={ROUTE}&service_instance_guids={RS}", "", 200),
		"unknown credential filter":    badQ("/v3/service_credential_bindings?route_guids=x", "Unknown query parameter(s): 'route_guids'"),
		"credential binding type":      badQ("/v3/service_credential_bindings?type=route", "Type must be one of 'app', 'key'"),
		"credential filters accepted":  ok("GET", "/v3/service_credential_bindings?service_instance_guids={RS}&type=app", "", 200),
		"service instance filters too": ok("GET", "/v3/service_instances?names=rs&space_guids={SPACE}&type=user-provided", "", 200),

		// Destinations (route_update_destinations_message.rb, update_route_destinations.rb,
		// routes_controller.rb).
		"insert of nothing":             refuse("POST", route+"/destinations", `{"destinations":[]}`, "Destinations must be an array containing between 1 and 100 destination objects."),
		"replace with more than 100":    refuse("PATCH", route+"/destinations", `{"destinations":[`+strings.TrimSuffix(strings.Repeat(`{"app":{"guid":"{APP}"}},`, 101), ",")+`]}`, "Destinations must be an array containing between 0 and 100 destination objects."),
		"duplicate destinations":        refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"}},{"app":{"guid":"{APP2}"}}]}`, "Destinations cannot contain duplicate entries"),
		"duplicate in a replace":        refuse("PATCH", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"},"port":8080},{"app":{"guid":"{APP2}"}}]}`, "Destinations cannot contain duplicate entries"),
		"port below 1024":               refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"},"port":80}]}`, "Destinations[0]: port must be a positive integer between 1024 and 65535 inclusive."),
		"port above 65535":              refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"},"port":65536}]}`, "port must be a positive integer between 1024 and 65535 inclusive."),
		"port that is a string":         refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"},"port":"8080"}]}`, "port must be a positive integer"),
		"eleven ports of one app":       refuse("POST", route+"/destinations", ports(11), "Process must have at most 10 exposed ports."),
		"ten ports of one app":          ok("POST", route+"/destinations", ports(10), 200),
		"weight in an insert":           refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"},"weight":100}]}`, "Destinations[0]: weighted destinations can only be used when replacing all destinations."),
		"weights not summing to 100":    refuse("PATCH", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP}"},"weight":50},{"app":{"guid":"{APP2}"},"weight":40}]}`, "Destinations must have weights that sum to 100."),
		"weighted and unweighted":       refuse("PATCH", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP}"},"weight":100},{"app":{"guid":"{APP2}"}}]}`, "Destinations cannot contain both weighted and unweighted destinations."),
		"weight over 100":               refuse("PATCH", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP}"},"weight":101}]}`, "weight must be a positive integer between 1 and 100."),
		"deleting a weighted one":       refuse("DELETE", "/v3/routes/{WEIGHTED}/destinations/{WDEST}", "", "Weighted destinations cannot be deleted individually."),
		"insert beside weighted ones":   refuse("POST", "/v3/routes/{WEIGHTED}/destinations", `{"destinations":[{"app":{"guid":"{APP2}","process":{"type":"worker"}}}]}`, "Destinations cannot be inserted when there are weighted destinations already configured."),
		"unknown protocol":              refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"},"protocol":"http3"}]}`, "protocol must be 'http1', 'http2' or 'tcp'."),
		"tcp protocol on an HTTP route": refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"},"protocol":"tcp"}]}`, "Cannot use 'tcp' protocol for http routes; valid options are: [http1, http2]."),
		"an app that does not exist":    refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"nope"}}]}`, `App(s) with guid(s) "nope" do not exist.`),
		"an app in another space":       refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{FAR}"}}]}`, "Routes destinations must be in either the route's space or the route's shared spaces"),
		"unknown destination field":     refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"},"route":"x"}]}`, `Destinations[0]: must have only "app" and optionally "weight", "port" or "protocol".`),
		"process without a type":        refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}","process":{}}}]}`, `process must have the structure {"type": "process_type"}`),
		"unknown field in the body":     refuse("POST", route+"/destinations", `{"destinations":[{"app":{"guid":"{APP2}"}}],"replace":true}`, "Unknown field(s): 'replace'"),
		"a destination not on route":    refuse("DELETE", route+"/destinations/nope", "", "Unable to unmap route from destination. Ensure the route has a destination with this guid."),
		"replace with nothing":          ok("PATCH", route+"/destinations", `{"destinations":[]}`, 200),

		// User-provided service instances (service_instance_create_*_message.rb, service_instance.rb).
		"route service over http": refuse("POST", "/v3/service_instances", `{"type":"user-provided","name":"x","route_service_url":"http://rs.example.com","relationships":{"space":{"data":{"guid":"{SPACE}"}}}}`, "Route service url must be https"),
		"name taken in the space": refuse("POST", "/v3/service_instances", `{"type":"user-provided","name":"rs","route_service_url":"https://x.example.com","relationships":{"space":{"data":{"guid":"{SPACE}"}}}}`, "The service instance name is taken: rs."),
		"unknown instance field":  refuse("POST", "/v3/service_instances", `{"type":"user-provided","name":"x","url":"https://x","relationships":{"space":{"data":{"guid":"{SPACE}"}}}}`, "Unknown field(s): 'url'"),
		"a space that is not":     refuse("POST", "/v3/service_instances", `{"type":"user-provided","name":"x","relationships":{"space":{"data":{"guid":"nope"}}}}`, "Invalid space. Ensure that the space exists and you have access to it."),
		"instance without space":  refuse("POST", "/v3/service_instances", `{"type":"user-provided","name":"x","relationships":{}}`, "Relationships Space must be structured like this"),
		"instance bad label":      refuse("POST", "/v3/service_instances", `{"type":"user-provided","name":"x","metadata":{"labels":{"maintpage/by":"x"}},"relationships":{"space":{"data":{"guid":"{SPACE}"}}}}`, "prefix 'maintpage' must be in valid dns format"),
		"instance created":        ok("POST", "/v3/service_instances", `{"type":"user-provided","name":"x","route_service_url":"https://x.example.com","relationships":{"space":{"data":{"guid":"{SPACE}"}}}}`, 201),

		// Route bindings (service_route_binding_create_message.rb, service_route_binding_create.rb,
		// service_route_bindings_controller.rb).
		"binding an internal route":       refuse("POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"{INTERNAL}"}},"service_instance":{"data":{"guid":"{RS}"}}}}`, "Route services cannot be bound to internal routes"),
		"route bound to another":          refuse("POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"{BOUND}"}},"service_instance":{"data":{"guid":"{RS2}"}}}}`, "A route may only be bound to a single service instance"),
		"bound twice":                     {"POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"{BOUND}"}},"service_instance":{"data":{"guid":"{RS}"}}}}`, 422, 130008, "CF-ServiceInstanceAlreadyBoundToSameRoute", "The route and service instance are already bound."},
		"instance without a route url":    refuse("POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"{ROUTE}"}},"service_instance":{"data":{"guid":"{PLAIN}"}}}}`, "This service instance does not support route binding"),
		"parameters for user-provided":    refuse("POST", "/v3/service_route_bindings", `{"parameters":{},"relationships":{"route":{"data":{"guid":"{ROUTE}"}},"service_instance":{"data":{"guid":"{RS}"}}}}`, "Binding parameters are not supported for user-provided service instances"),
		"an instance that is not":         refuse("POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"{ROUTE}"}},"service_instance":{"data":{"guid":"nope"}}}}`, "The service instance could not be found: nope"),
		"a route that is not":             refuse("POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"nope"}},"service_instance":{"data":{"guid":"{RS}"}}}}`, "The route could not be found: nope"),
		"a route in another space":        refuse("POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"{FARROUTE}"}},"service_instance":{"data":{"guid":"{RS}"}}}}`, "The service instance and the route are in different spaces"),
		"binding without a route":         refuse("POST", "/v3/service_route_bindings", `{"relationships":{"service_instance":{"data":{"guid":"{RS}"}}}}`, "Relationships Route must be structured like this"),
		"unknown binding field":           refuse("POST", "/v3/service_route_bindings", `{"route_service_url":"https://x","relationships":{"route":{"data":{"guid":"{ROUTE}"}},"service_instance":{"data":{"guid":"{RS}"}}}}`, "Unknown field(s): 'route_service_url'"),
		"binding created":                 ok("POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"{ROUTE}"}},"service_instance":{"data":{"guid":"{RS}"}}}}`, 201),
		"binding of a TCP route accepted": ok("POST", "/v3/service_route_bindings", `{"relationships":{"route":{"data":{"guid":"{TCP}"}},"service_instance":{"data":{"guid":"{RS}"}}}}`, 201),
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, m, tok := scene(t)
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(fill(c.body, m))
			}
			req, err := http.NewRequest(c.method, f.URL+fill(c.path, m), body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status: got %d (%s), want %d", resp.StatusCode, raw, c.status)
			}
			if c.code == 0 {
				return
			}
			var doc struct {
				Errors []struct {
					Code          int
					Title, Detail string
				}
			}
			if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Errors) != 1 {
				t.Fatalf("body %s: want CC's {\"errors\":[…]} with one error", raw)
			}
			e := doc.Errors[0]
			if e.Code != c.code || e.Title != c.title || !strings.Contains(e.Detail, c.detail) {
				t.Errorf("got %d %s %q, want %d %s with %q", e.Code, e.Title, e.Detail, c.code, c.title, c.detail)
			}
		})
	}
}

// TestCCAuth: CC answers 401 without a token, and with a token it does not accept.
func TestCCAuth(t *testing.T) {
	t.Parallel()
	f, _, _ := scene(t)
	tests := map[string]struct {
		auth  string
		code  int
		title string
	}{
		"no token":      {"", 10002, "CF-NotAuthenticated"},
		"unknown token": {"bearer forged", 1000, "CF-InvalidAuthToken"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest("GET", f.URL+"/v3/routes", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 401 || !strings.Contains(string(raw), tc.title) || !strings.Contains(string(raw), fmt.Sprint(tc.code)) {
				t.Errorf("got %d %s, want 401 %d %s", resp.StatusCode, raw, tc.code, tc.title)
			}
		})
	}
}
