// Package page owns what a reader of the maintenance response sees: the embedded default templates
// (an HTML page with its inline style and script, plain text, problem JSON), their built-in strings
// in several languages, the user's template overrides, the Content-Security-Policy that allows the
// page's inline code by hash, and rendering. Templates are parsed and test-rendered in New, in
// every language and state, so a broken one is a configuration error with its file and line at
// start or reload, never a blank page at run time.
package page
