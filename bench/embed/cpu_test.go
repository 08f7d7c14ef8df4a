package embed

import (
	"os"
	"testing"
	"time"
)

// CPU reads this process's own CPU time, which grows as it spins.
func TestCPUOfThisProcess(t *testing.T) {
	before, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	after, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 50*time.Millisecond || d > 10*time.Second {
		t.Fatalf("spinning 200 ms used %v of CPU (loop %d)", d, x)
	}
	if _, err := CPU(1 << 30); err == nil {
		t.Fatal("CPU of a process that does not exist: no error")
	}
}
