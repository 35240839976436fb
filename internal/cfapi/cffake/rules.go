package cffake

// The Cloud Controller's validation rules, as the fake applies them. Each rule names the file of
// cloudfoundry/cloud_controller_ng it comes from (read at commit 3bbba9069894, August 2026).
// Messages are CC's, so that a test can match what an operator would read.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// apiError is one CC error: errors/v2.yml gives each name its code and HTTP status, and
// lib/cloud_controller/errors/v3/api_error.rb renders it as {"errors":[{code, title: "CF-"+name,
// detail}]}. ApiError#message joins a list of messages with ", ".
type apiError struct {
	status int
	code   int
	title  string
	detail string
}

func (e *apiError) Error() string { return e.title + ": " + e.detail }

// The errors the fake answers, from errors/v2.yml.
func unprocessable(msgs ...string) *apiError { // 10008 UnprocessableEntity, 422, "%s"
	return &apiError{http.StatusUnprocessableEntity, 10008, "CF-UnprocessableEntity", strings.Join(msgs, ", ")}
}

func badQuery(msgs ...string) *apiError { // 10005 BadQueryParameter, 400
	return &apiError{http.StatusBadRequest, 10005, "CF-BadQueryParameter", "The query parameter is invalid: " + strings.Join(msgs, ", ")}
}

func parseError(msg string) *apiError { // 1001 MessageParseError, 400
	return &apiError{http.StatusBadRequest, 1001, "CF-MessageParseError", "Request invalid due to parse error: " + msg}
}

func notFound(what string) *apiError { // 10010 ResourceNotFound, 404, "%s"
	return &apiError{http.StatusNotFound, 10010, "CF-ResourceNotFound", what + " not found"}
}

// unknownError is CC's answer to an exception no controller rescues (errors/v2.yml 10001).
func unknownError() *apiError {
	return &apiError{http.StatusInternalServerError, 10001, "CF-UnknownError", "An unknown error occurred."}
}

// alreadyBound is ServiceInstanceAlreadyBoundToSameRoute (errors/v2.yml 130008, http_code 400),
// which app/controllers/v3/service_route_bindings_controller.rb#already_exists! answers with 422.
func alreadyBound() *apiError {
	return &apiError{http.StatusUnprocessableEntity, 130008, "CF-ServiceInstanceAlreadyBoundToSameRoute", "The route and service instance are already bound."}
}

// --- Metadata keys and values -------------------------------------------------------------------

// domainRegex is CloudController::DomainDecorator::DOMAIN_REGEX
// (lib/cloud_controller/domain_decorator.rb): DNS labels of 1 to 63 letters, digits and dashes with
// alphanumeric ends, at least two of them (the prefix needs a dot), matched case-insensitively.
var domainRegex = regexp.MustCompile(`(?i)^(([a-z0-9]|[a-z0-9][a-z0-9-]{0,61}[a-z0-9])\.)+([a-z0-9]|[a-z0-9][a-z0-9-]{0,61}[a-z0-9])$`)

// From app/messages/metadata_validator_helper.rb.
var (
	invalidChar     = regexp.MustCompile(`[^\w\-.]`) // Ruby's \w is ASCII [A-Za-z0-9_]
	alnumStartEnd   = regexp.MustCompile(`^[a-zA-Z\d](?s:.*)[a-zA-Z\d]$|^[a-zA-Z\d]$`)
	maxKeyOrValue   = 63
	maxPrefix       = 253
	reservedPrefix  = "cloudfoundry.org"
	maxAnnotation   = 5000 // app/messages/validators/metadata_validator.rb, in characters
	maxRequirements = 50   // app/messages/validators/label_selector_requirement_validator.rb
)

// extractPrefix is MetadataHelpers.extract_prefix (app/models/helpers/metadata_helpers.rb):
// Ruby's split("/") drops a trailing empty part, so "a/" has prefix "a" and name "".
func extractPrefix(key string) (prefix string, hasPrefix bool, name string) {
	if !strings.Contains(key, "/") {
		return "", false, key
	}
	parts := strings.Split(key, "/")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	switch len(parts) {
	case 0:
		return "", true, ""
	case 1:
		return parts[0], true, ""
	}
	return parts[0], true, parts[1]
}

func short(s string) string {
	r := []rune(s)
	if len(r) > 8 {
		r = r[:8]
	}
	return string(r)
}

// keyError is MetadataValidatorHelper#key_error (app/messages/metadata_validator_helper.rb), in
// its order; "" when the key is valid.
func keyError(key string) string {
	prefix, hasPrefix, name := extractPrefix(key)
	switch {
	case strings.TrimSpace(key) == "":
		return "key cannot be empty string"
	case strings.Count(key, "/") > 1:
		return "key has more than one '/'"
	case hasPrefix && !domainRegex.MatchString(prefix):
		return fmt.Sprintf("prefix '%s' must be in valid dns format", prefix)
	case hasPrefix && utf8.RuneCountInString(prefix) > maxPrefix:
		return fmt.Sprintf("prefix '%s...' is greater than %d characters", short(prefix), maxPrefix)
	case hasPrefix && strings.EqualFold(prefix, reservedPrefix):
		return "prefix 'cloudfoundry.org' is reserved"
	case strings.TrimSpace(name) == "":
		return "key cannot be empty string"
	}
	return nameError(name)
}

// nameError is the part of key_error and value_error that checks a name or a label value.
func nameError(s string) string {
	switch {
	case invalidChar.MatchString(s):
		return fmt.Sprintf("'%s' contains invalid characters", s)
	case !alnumStartEnd.MatchString(s):
		return fmt.Sprintf("'%s' starts or ends with invalid characters", s)
	case utf8.RuneCountInString(s) > maxKeyOrValue:
		return fmt.Sprintf("'%s...' is greater than %d characters", short(s), maxKeyOrValue)
	}
	return ""
}

// valueError is MetadataValidatorHelper#value_error: an empty value is a valid label value.
func valueError(v string) string {
	if v == "" {
		return ""
	}
	return nameError(v)
}

// present is Ruby's String#present?: not empty and not only whitespace.
func present(s *string) bool { return s != nil && strings.TrimSpace(*s) != "" }

// metadataErrors is MetadataValidator#validate (app/messages/validators/metadata_validator.rb) on
// a decoded "metadata" object; the messages are ActiveModel's full messages ("Metadata …").
func metadataErrors(raw json.RawMessage) []string {
	var meta map[string]json.RawMessage
	if json.Unmarshal(raw, &meta) != nil || meta == nil {
		return []string{"Metadata must be an object"}
	}
	var out []string
	var extra []string
	for k := range meta {
		if k != "labels" && k != "annotations" {
			extra = append(extra, "'"+k+"'")
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		out = append(out, "Metadata has unexpected field(s): "+strings.Join(extra, " "))
	}
	if l, ok := meta["labels"]; ok && string(l) != "null" {
		var labels map[string]*string
		if json.Unmarshal(l, &labels) != nil {
			out = append(out, "Metadata 'labels' is not an object")
		}
		for _, k := range sortedKeys(labels) {
			if e := keyError(k); e != "" {
				out = append(out, "Metadata label key error: "+e)
			}
			if v := labels[k]; v != nil {
				if e := valueError(*v); e != "" {
					out = append(out, "Metadata label value error: "+e)
				}
			}
		}
	}
	if a, ok := meta["annotations"]; ok && string(a) != "null" {
		var anns map[string]*string
		if json.Unmarshal(a, &anns) != nil {
			out = append(out, "Metadata 'annotations' is not an object")
		}
		for _, k := range sortedKeys(anns) {
			v := anns[k]
			// CC checks an annotation's key only when a value is set: deleting (null) any key is fine.
			if e := keyError(k); e != "" && present(v) {
				out = append(out, "Metadata annotation key error: "+e)
			}
			if v != nil && utf8.RuneCountInString(*v) > maxAnnotation {
				out = append(out, fmt.Sprintf("Metadata annotation value error: '%s...' is greater than 5000 characters", short(*v)))
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// applyMetadata is MetadataUpdate (app/actions/metadata_update.rb): null deletes a key.
func applyMetadata(raw json.RawMessage, labels, annotations map[string]string) {
	var meta struct {
		Labels      map[string]*string `json:"labels"`
		Annotations map[string]*string `json:"annotations"`
	}
	_ = json.Unmarshal(raw, &meta)
	for dst, src := range map[*map[string]string]map[string]*string{&labels: meta.Labels, &annotations: meta.Annotations} {
		for k, v := range src {
			if v == nil {
				delete(*dst, k)
			} else {
				(*dst)[k] = *v
			}
		}
	}
}

// --- Label selectors ----------------------------------------------------------------------------

// requirement is a LabelSelectorRequirement (app/models/helpers/label_selector_requirement.rb).
type requirement struct {
	key    string
	op     string // in, notin, equal, not_equal, exists, not_exists
	values []string
}

// The patterns of app/models/helpers/metadata_helpers.rb, tried in its order.
var (
	reqSplitter = regexp.MustCompile(`(?:\(.*?\)|[^,])+`)
	keyChars    = `[\w\-._/]+`
	reqPatterns = []struct {
		re *regexp.Regexp
		op string
	}{
		{regexp.MustCompile(`^(?s)(.*?) in \((.*)\)$`), "in"},
		{regexp.MustCompile(`^(?s)(.*?) notin \((.*)\)$`), "notin"},
		{regexp.MustCompile(`^(` + keyChars + `)==?((?s).*)$`), "equal"},
		{regexp.MustCompile(`^(` + keyChars + `)!=((?s).*)$`), "not_equal"},
		{regexp.MustCompile(`^(` + keyChars + `)()$`), "exists"},
		{regexp.MustCompile(`^!(` + keyChars + `)()$`), "not_exists"},
	}
)

// parseSelector is ListMessage.parse_label_selector (app/messages/list_message.rb); a nil entry
// is a requirement CC could not parse.
func parseSelector(s string) []*requirement {
	var out []*requirement
	for _, part := range reqSplitter.FindAllString(s, -1) {
		var req *requirement
		for _, p := range reqPatterns {
			if m := p.re.FindStringSubmatch(part); m != nil {
				req = &requirement{key: m[1], op: p.op, values: rubySplit(m[2])}
				break
			}
		}
		out = append(out, req)
	}
	return out
}

// rubySplit is Ruby's String#split(","): trailing empty parts are dropped.
func rubySplit(s string) []string {
	parts := strings.Split(s, ",")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// selectorErrors is LabelSelectorRequirementValidator
// (app/messages/validators/label_selector_requirement_validator.rb), which CC runs for the lists
// built on MetadataListMessage (apps, spaces, organizations, service instances, service route
// bindings…). RoutesListMessage is a plain ListMessage in cloud_controller_ng
// (app/messages/routes_list_message.rb), so /v3/routes does not run it.
func selectorErrors(reqs []*requirement) []string {
	if len(reqs) == 0 {
		return []string{"Missing label_selector value"}
	}
	if len(reqs) > maxRequirements {
		return []string{fmt.Sprintf("Too many label_selector requirements (maximum is %d)", maxRequirements)}
	}
	var out []string
	for _, r := range reqs {
		if r == nil {
			out = append(out, "Invalid label_selector value")
			continue
		}
		if e := keyError(r.key); e != "" {
			out = append(out, e)
			continue
		}
		for _, v := range r.values {
			if e := valueError(v); e != "" {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// matches is LabelSelectorQueryGenerator (app/fetchers/label_selector_query_generator.rb).
func matches(labels map[string]string, reqs []*requirement) bool {
	for _, r := range reqs {
		v, ok := labels[r.key]
		switch r.op {
		case "exists":
			if !ok {
				return false
			}
		case "not_exists":
			if ok {
				return false
			}
		case "in", "equal":
			if !ok || !slices.Contains(r.values, v) {
				return false
			}
		case "notin", "not_equal":
			if ok && slices.Contains(r.values, v) {
				return false
			}
		}
	}
	return true
}

// --- Query parameters ---------------------------------------------------------------------------

// listKeys are the keys every ListMessage allows (app/messages/list_message.rb).
var listKeys = []string{"page", "per_page", "order_by", "created_ats", "updated_ats", "guids"}

// listParams describes one list endpoint's message: its own keys, whether it is a
// MetadataListMessage (label_selector validated), and its valid include values.
type listParams struct {
	keys     []string
	metadata bool
	include  []string
}

// The list messages the fake serves.
var (
	// app/messages/orgs_list_message.rb
	orgsList = listParams{keys: []string{"names", "isolation_segment_guid"}, metadata: true}
	// app/messages/spaces_list_message.rb
	spacesList = listParams{keys: []string{"names", "organization_guids", "include"}, metadata: true, include: []string{"org", "organization"}}
	// app/messages/apps_list_message.rb
	appsList = listParams{keys: []string{"names", "organization_guids", "space_guids", "stacks", "include", "lifecycle_type"}, metadata: true, include: []string{"space", "org", "space.organization"}}
	// app/messages/routes_list_message.rb: label_selector is allowed but not validated.
	routesList = listParams{keys: []string{"hosts", "space_guids", "organization_guids", "domain_guids", "paths", "app_guids", "include", "label_selector", "ports", "service_instance_guids"},
		include: []string{"domain", "space", "space.organization", "route_policies"}}
	// app/messages/service_instances_list_message.rb
	serviceInstancesList = listParams{keys: []string{"type", "fields", "names", "space_guids", "organization_guids", "service_plan_guids", "service_plan_names"}, metadata: true}
	// app/messages/service_route_bindings_list_message.rb
	routeBindingsList = listParams{keys: []string{"service_instance_guids", "service_instance_names", "route_guids", "include"}, metadata: true, include: []string{"route", "service_instance"}}
	// app/messages/service_credential_binding_list_message.rb
	credentialBindingsList = listParams{keys: []string{"names", "service_instance_guids", "service_instance_names", "service_plan_names", "service_plan_guids",
		"service_offering_names", "service_offering_guids", "app_guids", "app_names", "include", "type"}, metadata: true, include: []string{"app", "service_instance"}}
	// app/messages/route_destinations_list_message.rb
	destinationsList = listParams{keys: []string{"guids", "app_guids"}}
)

// check applies NoAdditionalParamsValidator (app/messages/base_message.rb), IncludeParamValidator,
// PaginationPageValidator (app/messages/list_message.rb) and, for metadata lists, the label
// selector validator. It returns the parsed selector.
func (lp listParams) check(q url.Values) ([]*requirement, []string) {
	allowed := append(slices.Clone(listKeys), lp.keys...)
	if lp.metadata {
		allowed = append(allowed, "label_selector")
	}
	var unknown []string
	for k := range q {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	var errs []string
	if len(unknown) > 0 {
		slices.Sort(unknown)
		errs = append(errs, fmt.Sprintf("Unknown query parameter(s): '%s'. Valid parameters are: '%s'", strings.Join(unknown, "', '"), strings.Join(allowed, "', '")))
	}
	if q.Has("include") {
		for _, v := range strings.Split(q.Get("include"), ",") {
			if !slices.Contains(lp.include, v) {
				errs = append(errs, fmt.Sprintf("Invalid included resource: '%s'. Valid included resources are: '%s'", v, strings.Join(lp.include, "', '")))
			}
		}
	}
	var reqs []*requirement
	if q.Has("label_selector") {
		reqs = parseSelector(q.Get("label_selector"))
		if lp.metadata {
			errs = append(errs, selectorErrors(reqs)...)
		}
	}
	return reqs, errs
}

// --- Route destinations -------------------------------------------------------------------------

// destIn is one destination of a request body, kept raw enough to apply CC's type checks.
type destIn struct {
	raw      map[string]json.RawMessage
	app      string
	process  string
	port     int
	weight   *int
	protocol string
}

// destinationErrors is RouteUpdateDestinationsMessage (app/messages/route_update_destinations_message.rb)
// on a request body; replace allows an empty list and weights.
func destinationErrors(body map[string]json.RawMessage, replace bool) ([]destIn, []string) {
	var errs []string
	var extra []string
	for k := range body {
		if k != "destinations" {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		errs = append(errs, fmt.Sprintf("Unknown field(s): '%s'", strings.Join(extra, "', '")))
	}
	minimum := 1
	if replace {
		minimum = 0
	}
	var list []json.RawMessage
	if json.Unmarshal(body["destinations"], &list) != nil || list == nil || len(list) < minimum || len(list) > 100 {
		return nil, append(errs, fmt.Sprintf("Destinations must be an array containing between %d and 100 destination objects.", minimum))
	}
	var out []destIn
	perApp := map[string]int{}
	add := func(i int, msg string) { errs = append(errs, fmt.Sprintf("Destinations[%d]: %s", i, msg)) }
	for i, raw := range list {
		var d destIn
		if json.Unmarshal(raw, &d.raw) != nil || d.raw == nil {
			add(i, "must be an object.")
			continue
		}
		appRaw, ok := d.raw["app"]
		if !ok {
			add(i, `must have an "app".`)
			continue
		}
		if slices.ContainsFunc(sortedKeys(d.raw), func(k string) bool { return !slices.Contains([]string{"app", "weight", "port", "protocol"}, k) }) {
			add(i, `must have only "app" and optionally "weight", "port" or "protocol".`)
			continue
		}
		var app map[string]json.RawMessage
		var guid string
		if json.Unmarshal(appRaw, &app) != nil || json.Unmarshal(app["guid"], &guid) != nil || len(guid) < 1 || len(guid) >= 200 {
			add(i, `app must have the structure {"guid": "app_guid"}`)
		} else if p, ok := app["process"]; ok && string(p) != "null" {
			var proc map[string]json.RawMessage
			var typ string
			if json.Unmarshal(p, &proc) != nil || len(proc) != 1 || json.Unmarshal(proc["type"], &typ) != nil || typ == "" {
				add(i, `process must have the structure {"type": "process_type"}`)
			} else {
				d.process = typ
			}
		}
		d.app = guid
		if w, ok := d.raw["weight"]; ok && string(w) != "null" {
			var n int
			switch {
			case !replace:
				add(i, "weighted destinations can only be used when replacing all destinations.")
			case json.Unmarshal(w, &n) != nil || n < 1 || n > 100:
				add(i, "weight must be a positive integer between 1 and 100.")
			default:
				d.weight = &n
			}
		}
		if p, ok := d.raw["port"]; ok && string(p) != "null" {
			if json.Unmarshal(p, &d.port) != nil || d.port < 1024 || d.port > 65535 {
				add(i, "port must be a positive integer between 1024 and 65535 inclusive.")
			}
		}
		if p, ok := d.raw["protocol"]; ok && string(p) != "null" {
			if json.Unmarshal(p, &d.protocol) != nil || !slices.Contains([]string{"http1", "http2", "tcp"}, d.protocol) {
				add(i, "protocol must be 'http1', 'http2' or 'tcp'.")
			}
		}
		// The message counts entries per "app" object (guid and process), ports or not.
		perApp[string(appRaw)]++
		out = append(out, d)
	}
	for _, n := range perApp {
		if n > 10 {
			errs = append(errs, "Process must have at most 10 exposed ports.")
			break
		}
	}
	if len(errs) == 0 {
		weighted := 0
		sum := 0
		for _, d := range out {
			if d.weight != nil {
				weighted++
				sum += *d.weight
			}
		}
		switch {
		case weighted > 0 && weighted < len(out):
			errs = append(errs, "Destinations cannot contain both weighted and unweighted destinations.")
		case weighted > 0 && sum != 100:
			errs = append(errs, "Destinations must have weights that sum to 100.")
		}
	}
	return out, errs
}
