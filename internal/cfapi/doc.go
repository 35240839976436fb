// Package cfapi owns maintpage's conversation with Cloud Foundry: logging in the way the cf CLI does
// (its config.json, or CF_API with client or user credentials for CI), finding an application's
// routes through the Cloud Controller V3 API, planning the switch of those routes to the maintenance
// app and back, carrying it out route by route so that no route is ever left without a destination,
// putting everything back when a call fails part-way, and reporting which routes are in maintenance.
// What a route served before the switch is kept on the route itself, in a metadata annotation, so
// that the way back works from any machine and after any crash.
package cfapi
