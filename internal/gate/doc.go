// Package gate owns gate mode: an http.Handler in front of the application that passes requests to
// the upstream through httputil.ReverseProxy while maintenance is off, answers with the maintenance
// Responder while it is on (except for bypassed clients: allowed networks behind trusted proxies, a
// signed cookie from a secret link, a secret header, allowed paths), falls back to the unplanned
// maintenance response when the upstream is down or answers with a configured status, and can act as
// a Cloud Foundry route service that forwards only to configured hosts. The state comes from a
// state.Tracker that outlives configuration reloads; the Responder for a state is built once per
// change, never per request.
//
// Rules decide per request, in one place: Gate.Decide finds the first matching rule, takes its
// scope ("" for none) and action, and says whether maintenance applies (the whole site is in
// maintenance, or the rule's scope is), whether an action: pass rule sends the request to the
// upstream anyway (read-only mode), and which bypass lets it through. ServeHTTP and the fast path
// act on that; any other way into the gate (a forward-auth endpoint) must call Decide too, so that
// pass rules, scopes and bypasses mean the same everywhere. Decision.Respond reports whether the
// request gets the maintenance response, and Decision.Serve writes it with the scope's message.
package gate
