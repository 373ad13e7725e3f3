package discover

import (
	"testing"

	"peerflow/core/testtools"
)

// TestMain fails the tests if they leave a goroutine running.
func TestMain(m *testing.M) { testtools.VerifyNoLeaks(m) }
