package gate

import (
	"os"
	"testing"
)

// TestMain runs the test binary as a helper process when a test asks for one (see
// heldUpstreamMain), and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("MAINTPAGE_HELD_UPSTREAM") == "1" {
		heldUpstreamMain()
		return
	}
	os.Exit(m.Run())
}
