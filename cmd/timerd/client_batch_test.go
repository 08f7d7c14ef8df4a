package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/timerd/timerd/internal/nodetest"
)

// cliWriteTimers writes n NDJSON timers with ids prefix-0000 on to a file,
// each with a payload of size bytes, then the extra lines.
func cliWriteTimers(t *testing.T, prefix string, n, size int, extra ...string) string {
	t.Helper()
	var b strings.Builder
	data := strings.Repeat("x", size)
	for i := range n {
		fmt.Fprintf(&b, "{\"id\": \"%s-%05d\", \"subject\": \"batch.x\", \"in\": \"1h\", \"data\": %q}\n", prefix, i, data)
	}
	for _, line := range extra {
		b.WriteString(line + "\n")
	}
	path := filepath.Join(t.TempDir(), prefix+".ndjson")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// countTimers answers how many timers have ids starting with prefix.
func countTimers(t *testing.T, url, prefix string) int {
	t.Helper()
	code, out, errOut := cliExec(t, "", "ls", "--all", "--prefix", prefix, "--limit", "10000", "-s", url)
	if code != 0 {
		t.Fatalf("ls: %d %s", code, errOut)
	}
	return strings.Count(out, "\n"+prefix)
}

// NDJSON, several requests of --max-batch timers and requests cut under the
// server's max payload, against a real node; piped stderr gets no progress.
func TestCliBatchNDJSONInChunks(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	url := n.URL()

	path := cliWriteTimers(t, "nd", 2500, 10)
	code, out, errOut := cliExec(t, "", "batch", path, "--max-batch", "1000", "-s", url)
	if code != 0 || strings.Count(out, "scheduled nd-") != 2500 || errOut != "" {
		t.Fatalf("2500 timers: exit %d, %d lines, stderr %q", code, strings.Count(out, "\n"), errOut)
	}
	if got := countTimers(t, url, "nd-"); got != 2500 {
		t.Errorf("%d timers stored, want 2500", got)
	}
	// 40 payloads of 60 KB: one request of them would pass 1 MB, the
	// server's max payload; the CLI cuts them into requests that fit.
	path = cliWriteTimers(t, "big", 40, 60_000)
	if code, _, errOut := cliExec(t, "", "batch", path, "-s", url); code != 0 {
		t.Fatalf("large payloads: exit %d %q", code, errOut)
	}
	if got := countTimers(t, url, "big-"); got != 40 {
		t.Errorf("%d large timers stored, want 40", got)
	}
	// A malformed line after 1500 good ones: those are sent, the rest not.
	path = cliWriteTimers(t, "stop", 1500, 10, `{"id": "stop-bad", "subject": }`, `{"id": "stop-after", "subject": "batch.x", "in": "1h"}`)
	code, out, errOut = cliExec(t, "", "batch", path, "--max-batch", "1000", "-s", url)
	if code != 1 || strings.Count(out, "scheduled stop-") != 1500 || !strings.Contains(errOut, "timer 1500: ") ||
		!strings.Contains(errOut, "the 1500 timers before it were sent") {
		t.Errorf("malformed line: exit %d, %d results, stderr %q", code, strings.Count(out, "\n"), errOut)
	}
	if got := countTimers(t, url, "stop-"); got != 1500 {
		t.Errorf("%d timers stored around a malformed line, want 1500", got)
	}
	// --json across chunks is one array.
	code, out, _ = cliExec(t, "", "batch", cliWriteTimers(t, "js", 30, 1), "--max-batch", "7", "--json", "-s", url)
	if code != 0 || !strings.HasPrefix(out, "[\n  {") || !strings.HasSuffix(out, "}\n]\n") || strings.Count(out, `"created": true`) != 30 {
		t.Errorf("--json: exit %d %q", code, out)
	}
	// The server's own limit is reported, and nothing after it is sent.
	code, _, errOut = cliExec(t, "", "batch", cliWriteTimers(t, "over", 1500, 1), "--max-batch", "1500", "-s", url)
	if code != 1 || !strings.Contains(errOut, "code 413") || !strings.Contains(errOut, "timers 0 to 1499 were not scheduled") {
		t.Errorf("over the server's --max-batch: exit %d %q", code, errOut)
	}
}

// openPTY opens a pseudo-terminal: the master side, and the terminal a
// program sees (the slave side), as a person's terminal would be.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, tty
}

// The progress line goes to a terminal, and only there.
func TestCliIsTerminal(t *testing.T) {
	master, tty := openPTY(t)
	defer master.Close()
	defer tty.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, tt := range map[string]struct {
		w    io.Writer
		want bool
	}{"terminal": {tty, true}, "pipe": {w, false}, "file": {file, false}, "buffer": {&bytes.Buffer{}, false}} {
		if got := cliIsTerminal(tt.w); got != tt.want {
			t.Errorf("%s: cliIsTerminal = %t, want %t", name, got, tt.want)
		}
	}
}

// What the line says, with a clock the test moves.
func TestCliProgressLine(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	p := newCliProgress(&b, true, 100_000_000, func() time.Time { return now })
	p.update(1000, 1_000_000)
	if b.Len() != 0 {
		t.Fatalf("drawn before %v: %q", cliProgressDelay, b.String())
	}
	now = now.Add(10 * time.Second)
	p.update(250_000, 25_000_000)
	want := "\r\x1b[Ktimerd batch: 250000 timers sent, 25000/s, 25% of 100.0 MB, about 30s left"
	if b.String() != want {
		t.Errorf("line\n got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	now = now.Add(100 * time.Millisecond)
	p.update(251_000, 25_100_000)
	if b.Len() != 0 {
		t.Errorf("redrawn within %v: %q", cliProgressEvery, b.String())
	}
	p.clear() // stdout is elsewhere: the line stays
	if b.Len() != 0 {
		t.Errorf("cleared with stdout elsewhere: %q", b.String())
	}
	p.sharesScreen = true
	p.clear()
	p.update(252_000, 25_200_000) // cleared for results: drawn again at once
	if !strings.HasPrefix(b.String(), "\r\x1b[K\r\x1b[Ktimerd batch: 252000 timers sent") {
		t.Errorf("after clear: %q", b.String())
	}
	b.Reset()
	now = now.Add(29*time.Second + 900*time.Millisecond)
	p.done(1_000_000, 3)
	if want := "\r\x1b[Ktimerd batch: 1000000 timers sent in 40s (25000/s), 3 failed\n"; b.String() != want {
		t.Errorf("summary\n got %q\nwant %q", b.String(), want)
	}

	b.Reset()
	p = newCliProgress(&b, false, 100, func() time.Time { return now })
	now = now.Add(time.Hour)
	p.update(5, 50)
	p.done(5, 0)
	if b.Len() != 0 {
		t.Errorf("off, yet wrote %q", b.String())
	}
}

// timerd batch on a terminal shows the line; the results stay on stdout.
func TestCliBatchProgressOnATerminal(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	master, tty := openPTY(t)
	defer master.Close()
	screen := make(chan string, 1)
	go func() { // the terminal's reader: a pty blocks its writer when nobody reads
		b, _ := io.ReadAll(master)
		screen <- string(b)
	}()
	saved := cliProgressDelay
	cliProgressDelay = 0
	defer func() { cliProgressDelay = saved }()

	var stdout bytes.Buffer
	path := cliWriteTimers(t, "tty", 1200, 10)
	code, ok := runClient("batch", []string{path, "--max-batch", "100", "-s", n.URL()}, strings.NewReader(""), &stdout, tty)
	tty.Close() // the reader sees the end
	got := <-screen
	if !ok || code != 0 || strings.Count(stdout.String(), "scheduled tty-") != 1200 {
		t.Fatalf("exit %d, stdout %d lines", code, strings.Count(stdout.String(), "\n"))
	}
	if !strings.Contains(got, "timers sent, ") || !strings.Contains(got, "% of ") ||
		!strings.Contains(got, "timerd batch: 1200 timers sent in ") || strings.Contains(got, "scheduled") {
		t.Errorf("terminal shows %q", got)
	}
}
