package statuspage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// hostileID is accepted by timerd as an id (printable, no space, * or >)
// and would run script if a page wrote it unescaped.
const hostileID = `<svg/onload=alert(1)//"&'`

// fixture is a real node with timers of every kind, and a page over it.
type fixture struct {
	node *nodetest.Node
	c    *client.Client
	page *Page
	srv  *httptest.Server
	reg  *prometheus.Registry
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{node: nodetest.Start(t, nodetest.Options{})}
	f.c = client.New(f.node.Connect())
	ctx := context.Background()
	for _, tm := range []client.Timer{
		{ID: "order-1", Subject: "demo.x", In: time.Hour, Headers: nats.Header{"X-Tenant": {"acme"}}, Data: []byte("hi")},
		{ID: "at-1", Subject: "demo.x", At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "report", Subject: "demo.r", Cron: "30 9 * * MON-FRI", TimeZone: "Europe/Berlin"},
		{ID: "monthly", Subject: "demo.m", Repeat: "R12/2040-01-31T00:00:00Z/P1M"},
		{ID: "paused-1", Subject: "demo.p", Cron: "@hourly"},
		{ID: hostileID, Subject: "demo.h", In: 2 * time.Hour},
	} {
		if _, err := f.c.Schedule(ctx, tm); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.c.Pause(ctx, "paused-1"); err != nil {
		t.Fatal(err)
	}
	// This node's registry, as the node's metrics name them: the page
	// reads its histogram and counters by name.
	f.reg = prometheus.NewRegistry()
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "timerd_fire_lag_seconds", Help: "lag",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}})
	errs := prometheus.NewCounter(prometheus.CounterOpts{Name: "timerd_fire_errors_total", Help: "errors"})
	f.reg.MustRegister(lag, errs)
	for _, s := range []float64{.0003, .0008, .0009, .004, 2} {
		lag.Observe(s)
	}
	errs.Add(3)
	cfg.Client, cfg.Metrics = f.c, f.reg
	if cfg.Node == "" {
		cfg.Node = "nodetest"
	}
	if cfg.Sample == 0 {
		cfg.Sample = 20 * time.Millisecond
	}
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.page = p
	f.srv = httptest.NewServer(p)
	t.Cleanup(func() { f.srv.Close(); p.Close() })
	return f
}

func (f *fixture) get(t *testing.T, path string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// text is the content of the element with id, tags removed.
func text(body, id string) string {
	m := regexp.MustCompile(`(?s)id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(m[1]))
}

func TestOverviewShowsTheCluster(t *testing.T) {
	f := newFixture(t, Config{Warnings: NewWarnings()})
	var body string
	nodetest.Eventually(t, 10*time.Second, func() error {
		var code int
		code, body, _ = f.get(t, "/")
		if code != http.StatusOK || !strings.Contains(body, `id="chart-fires"`) {
			return errorf("GET / %d, no fires chart yet", code)
		}
		return nil
	})
	for id, want := range map[string]string{
		"count-timers": "6", "count-scheduled": "5", "count-paused": "1", "count-failed": "0", "count-nodes": "1",
		"errors-failed": "0", "errors-fire": "3", "errors-missing": "none", "warnings-none": "None since this node started.",
	} {
		if got := text(body, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	for kind, n := range map[string]string{"in": "2", "at": "1", "cron": "2", "repeat": "1"} {
		if !regexp.MustCompile(`data-name="` + kind + `"><td>` + kind + `</td><td class="n">` + n + `<`).MatchString(body) {
			t.Errorf("by kind: no row %s = %s", kind, n)
		}
	}
	if !strings.Contains(body, `id="chart-lag"`) || !strings.Contains(body, `data-total="5"`) ||
		strings.Count(body, `<rect class="bar"`) != 14 || !strings.Contains(body, `at most 1ms: 2 fires`) {
		t.Errorf("lag histogram of 5 fires with 14 buckets not drawn:\n%s", body)
	}
	// 64 shards, all owned by the one node: a cell each, one legend row.
	if got := strings.Count(body, `data-owner="nodetest"`); got != 64+1 {
		t.Errorf("%d cells and legend rows owned by nodetest, want 65", got)
	}
	if text(body, "store-records") == "0" || text(body, "store-records") == "" {
		t.Errorf("store records %q", text(body, "store-records"))
	}
}

// Only this page's script runs: the CSP allows it by its hash.
func TestContentSecurityPolicyAllowsTheScriptAlone(t *testing.T) {
	f := newFixture(t, Config{})
	_, body, h := f.get(t, "/")
	m := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(body, -1)
	if len(m) != 1 {
		t.Fatalf("%d scripts in the page, want 1", len(m))
	}
	sum := sha256.Sum256([]byte(m[0][1]))
	want := "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, want) || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q, want it to allow the page's script alone (%s)", csp, want)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestTimerPage(t *testing.T) {
	f := newFixture(t, Config{})
	code, body, _ := f.get(t, "/timer?id=monthly&n=3")
	if code != http.StatusOK || text(body, "timer-kind") != "repeat" || text(body, "timer-state") != "scheduled" {
		t.Fatalf("GET /timer?id=monthly: %d\n%s", code, body)
	}
	want := []string{"2040-01-31T00:00:00Z", "2040-02-29T00:00:00Z", "2040-03-31T00:00:00Z"}
	got := regexp.MustCompile(`<time datetime="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(got) != len(want) {
		t.Fatalf("%d upcoming, want %v", len(got), want)
	}
	for i := range want {
		if got[i][1] != want[i] {
			t.Errorf("upcoming %d = %s, want %s", i, got[i][1], want[i])
		}
	}
	code, body, _ = f.get(t, "/timer?id=order-1")
	if code != http.StatusOK || !strings.Contains(body, "<th>X-Tenant</th><td class=\"wrap\">acme</td>") || strings.Count(body, "<time ") != 1 {
		t.Errorf("order-1: %d, kept header and its one occurrence not shown\n%s", code, body)
	}
	code, body, _ = f.get(t, "/timer?id=paused-1")
	if code != http.StatusOK || text(body, "timer-state") != "paused" || !strings.Contains(body, `id="paused-note"`) {
		t.Errorf("paused-1: %d\n%s", code, body)
	}
	code, body, _ = f.get(t, "/timer?id=nope")
	if code != http.StatusNotFound || !strings.Contains(text(body, "timer-error"), "code 404") {
		t.Errorf("unknown id: %d %q", code, text(body, "timer-error"))
	}
}

func TestListPage(t *testing.T) {
	f := newFixture(t, Config{})
	code, body, _ := f.get(t, "/timers?prefix=o")
	if code != http.StatusOK || !strings.Contains(body, `<a href="/timer?id=order-1">order-1</a>`) || strings.Contains(body, "monthly") {
		t.Errorf("prefix o: %d\n%s", code, body)
	}
	ctx := context.Background()
	for i := range listPageLimit + 5 {
		if _, err := f.c.Schedule(ctx, client.Timer{ID: "page-" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Subject: "demo.x", In: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	_, body, _ = f.get(t, "/timers?prefix=page-")
	next := regexp.MustCompile(`id="next-page" href="([^"]+)"`).FindStringSubmatch(body)
	if strings.Count(body, `<a href="/timer?id=page-`) != listPageLimit || next == nil {
		t.Fatalf("first page: %d timers, next %v", strings.Count(body, `<a href="/timer?id=page-`), next)
	}
	_, body, _ = f.get(t, html.UnescapeString(next[1]))
	if n := strings.Count(body, `<a href="/timer?id=page-`); n != 5 || strings.Contains(body, `id="next-page"`) {
		t.Errorf("second page: %d timers, want the last 5", n)
	}
}

// Ids and headers are user data: wherever the page writes them, they are
// escaped, and a link to a timer carries its id query-escaped.
func TestHostileIDsAreEscaped(t *testing.T) {
	f := newFixture(t, Config{})
	for _, path := range []string{
		"/timer?id=" + url.QueryEscape(hostileID),
		"/timers",
		"/timer?id=" + url.QueryEscape("<script>alert(1)</script>"), // refused by timerd: its message quotes it
		"/timer?n=" + url.QueryEscape("<script>alert(1)</script>") + "&id=x",
		"/timers?prefix=" + url.QueryEscape(`<img src=x onerror=alert(1)>`),
	} {
		_, body, _ := f.get(t, path)
		for _, raw := range []string{"<svg/onload", "<script>alert", "<img src=x"} {
			if strings.Contains(body, raw) {
				t.Errorf("GET %s: the page contains %q unescaped", path, raw)
			}
		}
	}
	_, body, _ := f.get(t, "/timer?id="+url.QueryEscape(hostileID))
	if got := text(body, "timer-id"); got != hostileID {
		t.Errorf("timer-id shows %q, want %q", got, hostileID)
	}
	_, body, _ = f.get(t, "/timers")
	if !strings.Contains(body, `href="/timer?id=`+url.QueryEscape(hostileID)+`"`) &&
		!strings.Contains(body, `href="/timer?id=%3csvg%2fonload%3dalert%281%29%2f%2f%22%26%27"`) {
		t.Errorf("the list's link to the hostile timer is not query-escaped:\n%s", body)
	}
}

// Every input is bounded before anything is sent, and renders are few.
func TestInputsAreBounded(t *testing.T) {
	f := newFixture(t, Config{MaxConcurrent: 1})
	long := strings.Repeat("a", maxIDLen+1)
	for path, want := range map[string]int{
		"/timer":                 http.StatusBadRequest,
		"/timer?id=" + long:      http.StatusBadRequest,
		"/timer?id=a&n=0":        http.StatusBadRequest,
		"/timer?id=a&n=101":      http.StatusBadRequest,
		"/timer?id=a&n=ten":      http.StatusBadRequest,
		"/timers?prefix=" + long: http.StatusBadRequest,
		"/timers?cursor=" + long + long + long + long + long: http.StatusBadRequest,
		"/timer?id=a&x=" + strings.Repeat("b", maxQueryLen):  http.StatusRequestURITooLong,
		"/nothing-here": http.StatusNotFound,
	} {
		if code, body, _ := f.get(t, path); code != want {
			t.Errorf("GET %.60s: %d, want %d\n%.300s", path, code, want, body)
		}
	}
	f.page.slots <- struct{}{} // a page being drawn: the one slot is taken
	code, _, h := f.get(t, "/")
	<-f.page.slots
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("over MaxConcurrent: %d, Retry-After %q; want 503 with Retry-After", code, h.Get("Retry-After"))
	}
}

// The page changes nothing: every method but GET and HEAD is refused.
func TestGETOnly(t *testing.T) {
	f := newFixture(t, Config{})
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		for _, path := range []string{"/", "/timer?id=order-1", "/timers"} {
			req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader("id=order-1"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "GET") {
				t.Errorf("%s %s: %d (Allow %q), want 405", method, path, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	resp, err := http.Head(f.srv.URL + "/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD /: %v %v", resp, err)
	}
	if _, err := f.c.Get(context.Background(), "order-1"); err != nil {
		t.Errorf("order-1 after the refused requests: %v", err)
	}
}

// With no timerd answering, the page still renders and says so, 503.
func TestOverviewWithoutTimerd(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Prefix: "elsewhere"})
	p, err := Start(Config{Client: client.New(n.Connect(), client.WithTimeout(200*time.Millisecond)), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(text(rec.Body.String(), "stats-error"), "The cluster did not answer") {
		t.Errorf("no timerd: %d\n%s", rec.Code, rec.Body.String())
	}
	if _, err := Start(Config{}); err == nil {
		t.Error("Start without a client must fail")
	}
}

func errorf(format string, args ...any) error { return &textError{sprintf(format, args...)} }

type textError struct{ s string }

func (e *textError) Error() string { return e.s }

var _ = api.KindIn
