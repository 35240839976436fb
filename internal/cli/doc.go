// Package cli owns maintpage's command line: the cobra commands, their flags and exit codes. It wires
// the other packages together and holds no logic of its own, so every command can be run in a test by
// calling Main with its own arguments, environment and output streams.
package cli
