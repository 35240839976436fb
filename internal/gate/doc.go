// Package gate owns gate mode: an http.Handler in front of the application that passes requests to
// the upstream through httputil.ReverseProxy while maintenance is off, answers with the maintenance
// Responder while it is on (except for bypassed clients: allowed networks behind trusted proxies, a
// signed cookie from a secret link, a secret header, allowed paths), falls back to the unplanned
// maintenance response when the upstream is down or answers with a configured status, and can act as
// a Cloud Foundry route service that forwards only to configured hosts. The state comes from a
// state.Tracker that outlives configuration reloads; the Responder for a state is built once per
// change, never per request.
package gate
