// Package server owns the process's listeners: it binds before serving (a taken port fails at once),
// sets every timeout, writes the one log line per request, swaps in a rebuilt handler when the
// configuration is reloaded (SIGHUP or a change to the file) without dropping a request, and shuts
// down gracefully within a deadline shorter than Cloud Foundry's.
package server
