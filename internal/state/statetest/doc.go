// Package statetest holds what tests of stores and of their users share: Run,
// the conformance suite every state.Store must pass, and StartRedis, which
// runs a real redis-server that a test can kill and restart. Tests that need
// Redis skip when redis-server is missing, except when CI=true: there a
// missing server fails the test, so that CI never passes by skipping.
package statetest
