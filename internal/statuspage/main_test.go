package statuspage

import (
	"testing"

	"go.uber.org/goleak"
)

// The sampler is the page's one goroutine: every test must leave none.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
