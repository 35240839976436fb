// Package state owns the maintenance state: whether maintenance is on, its
// message, its schedule (start and announced end) and who changed it when.
// The state lives in a Store, kept apart from the configuration so that it can
// be switched at run time and shared between instances. Open picks a store from
// a URL: "memory" (one process, the default), "file:PATH" (a JSON file written
// atomically and watched for changes made by other processes) or
// "redis://host:port/db?key=NAME" (a Redis key, with changes published on a
// channel of the same name so every instance applies them within a second),
// or "redis+sentinel://host:port[,host:port…]/MASTER[/DB]" (the same on the
// primary that Redis Sentinel names, followed through failovers).
// Beside the state each store keeps its history, an Entry per change with who,
// how, from where and why (a ring in memory, an append-only file with one
// rotation, a capped Redis stream), and claims, which let exactly one of many
// instances act on an entry.
// A Tracker sits between a Store and the request path: it keeps the last known
// state in memory, so requests never wait on the store and an unreachable store
// never takes the gate down; it repairs missed notifications with a periodic
// read, reports the store's health and recovers by itself.
//
// The model, for the parts that build on it. A State holds the whole site's
// switch in its top-level fields (On, Message, Until, Start, Reason,
// ChangedBy, ChangedAt — the document the first version wrote, which still
// reads) and one Scope switch per named scope in Scopes; Known is what the
// gates published about their configuration (scope names, windows). Write
// with Tracker.Update (or Store.Update), never with a read followed by Set:
// Update is one step in every store (a lock in memory, an flock on the file's
// directory, WATCH/MULTI/EXEC in Redis), so two people switching two scopes
// at once both keep their change. State.WithScope(name, sc) is the change
// "switch scope name ("" the whole site) to sc"; turning the whole site off
// ends every scope too. CheckScope refuses a name the configuration does not
// know, listing the known ones. Read with State.ViewAt(now, ViewOptions): a
// View says which switches apply at that moment (scheduled starts and binding
// ends worked out) and when that next changes without a write (View.Changes),
// so a caller can cache it until then; View.InMaintenance(scope) is the
// question a request asks. Tracker.OnChange hooks see every stored change,
// including a change of Known alone; compare Global() and Scopes to tell a
// switch from a publication. Package statetest
// holds the conformance suite every Store must pass and helpers that run a
// real redis-server, or a primary, a replica and three sentinels, for tests.
package state
