package server

import "golang.org/x/net/http2"

// SetH2Hooks sets the fast HTTP/2 path's test hooks (see h2FrameHook and h2RelayHook) with the
// client's address in place of the connection; nil leaves a hook unset. The caller must not run
// in parallel with other tests, and calls restore once its server is closed.
func SetH2Hooks(frame, relay func(remote string, f http2.Frame)) (restore func()) {
	if frame != nil {
		h2FrameHook = func(c *h2Conn, f http2.Frame) { frame(c.remote, f) }
	}
	if relay != nil {
		h2RelayHook = func(c *h2Conn, f http2.Frame) { relay(c.remote, f) }
	}
	return func() { h2FrameHook, h2RelayHook = nil, nil }
}
