// Package machine describes the machine and build a measurement ran on, for
// the reports of the bench and loadtest tools.
package machine

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// Machine describes where a run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryGiB  int    `json:"memory_gib"`
	OS         string `json:"os"`
	Go         string `json:"go"`
	NATSServer string `json:"nats_server"`
	NATSClient string `json:"nats_client"`
}

// Describe reads /proc and the build info.
func Describe() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryGiB = int((kb + 1<<19) >> 20)
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/nats-io/nats-server/v2":
				m.NATSServer = d.Version
			case "github.com/nats-io/nats.go":
				m.NATSClient = d.Version
			}
		}
	}
	return m
}

// String is one line for a report.
func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %d GiB; %s, %s; nats-server %s, nats.go %s",
		m.CPU, m.Cores, m.MemoryGiB, m.OS, m.Go, m.NATSServer, m.NATSClient)
}

// LoadAvg is the first three fields of /proc/loadavg ("" if unreadable).
func LoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
