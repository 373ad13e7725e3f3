package testtools

import "testing"

// TestMain fails the tests if they leave a goroutine running.
func TestMain(m *testing.M) { VerifyNoLeaks(m) }
