// Package state owns the maintenance state: whether maintenance is on, its
// message, its schedule (start and announced end) and who changed it when.
// The state lives in a Store, kept apart from the configuration so that it can
// be switched at run time and shared between instances. Open picks a store from
// a URL: "memory" (one process, the default), "file:PATH" (a JSON file written
// atomically and watched for changes made by other processes) or
// "redis://host:port/db?key=NAME" (a Redis key, with changes published on a
// channel of the same name so every instance applies them within a second).
// A Tracker sits between a Store and the request path: it keeps the last known
// state in memory, so requests never wait on the store and an unreachable store
// never takes the gate down; it repairs missed notifications with a periodic
// read, reports the store's health and recovers by itself. Package statetest
// holds the conformance suite every Store must pass and a helper that runs a
// real redis-server for tests.
package state
