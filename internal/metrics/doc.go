// Package metrics owns maintpage's Prometheus collectors. They are built on a Registerer passed in,
// never the global one, so tests get their own registry and compare its output with golden files.
// Collectors outlive configuration reloads: handlers rebuilt on reload reuse them.
package metrics
