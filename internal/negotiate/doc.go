// Package negotiate chooses a response's format from an Accept header and its language from an
// Accept-Language header. The functions are pure and allocation-free on the common path because they
// run on every maintenance response; they never fail: anything they cannot read falls back to the
// caller's default, since a maintenance answer in the wrong format beats a 406.
package negotiate
