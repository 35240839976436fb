//go:build race

package server

// raceEnabled: the race detector's sync.Pool drops a random quarter of what is put back
// (sync/pool.go, Put), so a pooled buffer is allocated again now and then.
const raceEnabled = true
