//go:build !linux

package kubetest

import "os/exec"

// setDeathSignal does nothing where there is no parent-death signal; StopShared still stops the servers.
func setDeathSignal(*exec.Cmd) {}
