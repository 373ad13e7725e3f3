package testtools

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyNoLeaks runs a package's tests and fails them if a goroutine is
// still running once they are done: a connection, server, timer or
// worker someone forgot to stop. Each test package calls it from its
// TestMain. Goroutines already running when it is called, which libraries
// start as they load (fyne does), are not the tests' and are let be.
func VerifyNoLeaks(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}
