package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test of package main leaks a goroutine. It is the
// package's only TestMain: the serve tests run under it too.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
