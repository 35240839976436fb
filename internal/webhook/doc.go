// Package webhook announces every change in the state's history to the configured receivers: a
// signed POST per change and receiver (HMAC-SHA256 over the timestamp and the body, as Stripe and
// GitHub sign theirs), retried with exponential backoff and jitter for a bounded time, from a
// bounded queue that the request path never waits on. Every instance follows the history kept in
// the shared store, and the instance that claims an entry in the store (Store.Claim, SET NX in
// Redis) is the one that delivers it, so each change is delivered once however many instances run.
package webhook
