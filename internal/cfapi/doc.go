// Package cfapi owns maintpage's conversation with Cloud Foundry: logging in the way the cf CLI does
// (its config.json, or CF_API with client or user credentials for CI), finding an application's
// routes through the Cloud Controller V3 API, planning the switch of those routes to the maintenance
// app and back, carrying it out route by route so that no route is ever left without a destination,
// putting everything back when a call fails part-way, and reporting which routes are in maintenance.
// What a route served before the switch is kept on the route itself, in a metadata annotation, so
// that the way back works from any machine and after any crash. It also binds an app's routes to
// the maintpage gate as a route service, through a user-provided service instance. The few CC calls
// go through a small typed client of its own (cc.go) over one token source that renews the login
// and writes it back to the cf CLI's config.json (auth.go).
package cfapi
