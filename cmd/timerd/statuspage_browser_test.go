package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// chromiumPath finds Debian's chromium. CI installs it (.ci/run), so there
// a missing browser fails the test; elsewhere the test is skipped, saying
// how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI must run the browser test: .ci/run installs it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed: apt-get update && apt-get install -y chromium (as .ci/run does) to run the browser test")
	return ""
}

// chromium runs headless Chromium on url with extra flags (--dump-dom,
// --screenshot=...) in a fresh profile, bounded in time, and answers its
// stdout. Flags keep it off the network beyond the page itself.
func chromium(t *testing.T, bin, url string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--run-all-compositor-stages-before-draw", "--user-data-dir=" + t.TempDir()}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Dir = t.TempDir() // where chromium may leave files of its own
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return stdout.String()
}

// domText is the text of the element with id in a dumped DOM, tags removed.
func domText(dom, id string) string {
	m := regexp.MustCompile(`(?s)id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</(dd|p|td|span|code)>`).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], "")))
}

// The status page as a person sees it: a real timerd process with timers of
// every kind, opened in headless Chromium. The DOM after rendering shows the
// counts, the charts drawn and a timer found by id with its upcoming times;
// a screenshot is saved (into docs/img with TIMERD_UPDATE_SCREENSHOTS=1,
// which is how docs/img/status-page.png was made).
func TestStatusPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process and a browser")
	}
	browser := chromiumPath(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProcess(t, t.TempDir(), freePort(t), "--http", httpAddr, "--node", "timerd-1", "--shards", "64")
	base := "http://" + httpAddr
	nc, err := nats.Connect(p.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := client.New(nc)
	ctx := context.Background()
	timers := []client.Timer{
		{ID: "order-1042", Subject: "orders.expire", In: 30 * time.Minute, Data: []byte(`{"order":1042}`)},
		{ID: "order-1043", Subject: "orders.expire", InSpec: "PT45M", Headers: nats.Header{"X-Tenant": {"acme"}, "Traceparent": {"00-4bf92f3577b34da6-01"}}},
		{ID: "launch", Subject: "launch.go", At: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)},
		{ID: "weekday-report", Subject: "reports.daily", Cron: "30 9 * * MON-FRI", TimeZone: "Europe/Berlin"},
		{ID: "third-friday", Subject: "reports.monthly", Cron: "cron(0 9 ? * 6#3 *)"},
		{ID: "heartbeat", Subject: "ops.heartbeat", Cron: "@every 1s"},
		{ID: "billing", Subject: "billing.run", Repeat: "R12/2030-01-31T00:00:00Z/P1M"},
		{ID: "digest", Subject: "mail.digest", Cron: "0 8 * * *", TimeZone: "America/New_York"},
		{ID: `<svg/onload=alert(1)//"&`, Subject: "odd.ids", In: time.Hour},
	}
	for _, tm := range timers {
		if _, err := c.Schedule(ctx, tm); err != nil {
			t.Fatalf("schedule %s: %v", tm.ID, err)
		}
	}
	if _, err := c.Pause(ctx, "digest"); err != nil {
		t.Fatal(err)
	}
	// A burst of one-shots due over the next 12 s, so the charts show a
	// load; the page counts what is pending after they fired.
	burst, settle := 600, 30*time.Second
	if os.Getenv("TIMERD_UPDATE_SCREENSHOTS") != "" {
		burst, settle = 3000, 2*time.Minute // for the docs: a minute of load in the charts
	}
	for first := 0; first < burst; first += 1000 {
		var timers []client.Timer
		for i := first; i < min(first+1000, burst); i++ {
			timers = append(timers, client.Timer{ID: fmt.Sprintf("burst-%04d", i), Subject: "burst.x", In: time.Second + time.Duration(i)*20*time.Millisecond})
		}
		if _, err := c.Batch(ctx, timers); err != nil {
			t.Fatal(err)
		}
	}
	// The page samples every 2 s: wait until its fires chart has a rate
	// (the heartbeat fires every second) before a browser looks.
	nodetest.Eventually(t, settle, func() error {
		code, body := httpGet(base + "/")
		if code != 200 || !strings.Contains(body, `id="chart-fires"`) || !strings.Contains(body, `id="chart-lag"`) {
			return fmt.Errorf("GET /: %d, charts not drawn yet", code)
		}
		if got := domText(body, "count-timers"); got != fmt.Sprint(len(timers)) {
			return fmt.Errorf("%s timers pending, want %d once the burst has fired", got, len(timers))
		}
		return nil
	})

	dom := chromium(t, browser, base+"/", "--dump-dom")
	for id, want := range map[string]string{
		"count-timers": fmt.Sprint(len(timers)), "count-scheduled": fmt.Sprint(len(timers) - 1), "count-paused": "1",
		"count-failed": "0", "count-nodes": "1", "errors-missing": "none",
	} {
		if got := domText(dom, id); got != want {
			t.Errorf("the page shows #%s = %q, want %q", id, got, want)
		}
	}
	for kind, n := range map[string]int{"in": 3, "at": 1, "cron": 4, "repeat": 1} {
		if !strings.Contains(dom, fmt.Sprintf(`<tr data-name="%s"><td>%s</td><td class="n">%d</td></tr>`, kind, kind, n)) {
			t.Errorf("pending by kind: no row %s = %d", kind, n)
		}
	}
	if !regexp.MustCompile(`<svg class="chart" id="chart-fires"[^>]*>(?s:.*?)<path class="line" d="M[0-9.]+ [0-9.]+ L`).MatchString(dom) {
		t.Error("the fires chart has no line of two or more points")
	}
	if !regexp.MustCompile(`<svg class="chart" id="chart-lag"[^>]*data-total="[1-9]`).MatchString(dom) ||
		strings.Count(dom, `<rect class="bar"`) != 14 {
		t.Error("the lag histogram is not drawn with its 14 buckets and some fires")
	}
	if strings.Count(dom, `data-owner="timerd-1"`) != 64+1 || !strings.Contains(dom, `<tr data-node="timerd-1">`) {
		t.Error("the node and its 64 shards are not shown")
	}
	if strings.Contains(dom, "<svg/onload") {
		t.Error("a timer id reached the DOM as an element")
	}

	timerDOM := chromium(t, browser, base+"/timer?id=third-friday&n=10", "--dump-dom")
	if domText(timerDOM, "timer-id") != "third-friday" || domText(timerDOM, "timer-kind") != "cron" || domText(timerDOM, "timer-state") != "scheduled" {
		t.Errorf("the timer page does not show third-friday:\n%.3000s", timerDOM)
	}
	upcoming := regexp.MustCompile(`<time datetime="([^"]+)"`).FindAllStringSubmatch(timerDOM, -1)
	if len(upcoming) != 10 {
		t.Fatalf("%d upcoming times shown, want 10", len(upcoming))
	}
	for _, u := range upcoming {
		at, err := time.Parse(time.RFC3339Nano, u[1])
		if err != nil || at.Weekday() != time.Friday || at.Day() < 15 || at.Day() > 21 || at.Hour() != 9 {
			t.Errorf("upcoming %s is not a third Friday at 09:00 UTC", u[1])
		}
	}
	headersDOM := chromium(t, browser, base+"/timer?id=order-1043", "--dump-dom")
	if !strings.Contains(headersDOM, "<th>X-Tenant</th>") || !strings.Contains(headersDOM, "acme") {
		t.Error("the kept headers of order-1043 are not shown")
	}

	dir := t.TempDir()
	if os.Getenv("TIMERD_UPDATE_SCREENSHOTS") != "" {
		dir = filepath.Join("..", "..", "docs", "img")
	}
	for name, shot := range map[string]struct{ url, size string }{
		"status-page.png":       {base + "/", "1200,1380"},
		"status-page-phone.png": {base + "/", "390,1700"},
		"status-timer.png":      {base + "/timer?id=weekday-report&n=5", "1200,900"},
	} {
		path, _ := filepath.Abs(filepath.Join(dir, name))
		chromium(t, browser, shot.url, "--window-size="+shot.size, "--screenshot="+path)
		png, err := os.ReadFile(path)
		if err != nil || len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("screenshot %s: %d bytes, %v", name, len(png), err)
		}
		t.Logf("screenshot: %s", path)
	}
}
