// Package admin owns everything under <reserved_prefix>admin/: the gate's admin API (GET, PUT,
// POST and DELETE on admin/state; GET admin/history), closed unless an admin token is configured,
// tokens named for the history, compared in constant time and never accepted in a URL; the admin
// page (sign-in with a token, a signed expiring session cookie, forms protected by an Origin check
// and a form token, a CSP that allows no script); and the Client that "maintpage on|off|status|
// history --admin URL" uses.
package admin
