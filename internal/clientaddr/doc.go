// Package clientaddr finds a request's client behind the proxies it is told to trust: the peer,
// unless the peer is one of them; then the rightmost X-Forwarded-For entry that is not. The gate's
// network bypass and the request log's client networks follow the same rule, so that what the log
// names is what a bypass would match.
package clientaddr
