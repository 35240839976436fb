// Package admin owns the gate's admin API — GET, PUT, POST and DELETE on <reserved_prefix>admin/state,
// closed unless an admin token is configured, the token compared in constant time and never accepted
// in a URL — and the Client that "maintpage on|off|status --admin URL" uses to talk to it.
package admin
