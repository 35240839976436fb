// Package respond is the maintenance response itself: an http.Handler that answers every request —
// any method, any path — with the right status, Retry-After, Cache-Control: no-store and a body in
// the format and language the client asked for, following the configured rules. It also answers the
// reserved prefix (health, status, assets). Everything that does not depend on the request is
// rendered once in New, so the hot path chooses among ready bytes and allocates nothing of its own.
package respond
