// Package page owns what a reader of the maintenance response sees: the embedded default templates
// (HTML, plain text, problem JSON), their built-in strings in several languages, the user's template
// overrides, and rendering. Templates are parsed and test-rendered in New, so a broken one is a
// configuration error at start or reload, never a blank page at run time.
package page
