// Package rules matches requests against the configured rules, in order, first match wins. Matching
// runs on every request, so the rules are compiled once into plain comparisons and allocate nothing.
package rules
