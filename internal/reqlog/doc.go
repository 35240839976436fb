// Package reqlog owns the request log: one line per request, written without allocating into a
// buffer that a background loop writes out on a short interval and at Close, in writes of whole
// lines. Its modes decide what reaches the log during a window, when the same maintenance answer
// is given thousands of times a second: every request, a sample of the plain maintenance answers,
// or a periodic summary of them — with every other request (reserved paths, bypassed and proxied
// requests, errors) always written in full. A server that answers many requests on a connection
// logs through the connection's Conn, with which the summary counts an answer like the one before
// on that connection with one atomic add.
package reqlog
