package statuspage

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/timerd/timerd/client"
)

// Config says where the page gets its figures; zero values take the
// defaults named beside each field.
type Config struct {
	// Client reaches timerd's API; required. The page sends stats, get and
	// list requests only.
	Client *client.Client
	// Node names the node serving the page, shown in its header.
	Node string
	// Metrics is this node's Prometheus registry, for the fire lag
	// histogram and the error counters; nil leaves them out.
	Metrics prometheus.Gatherer
	// Owners answers the node holding each shard's lease ("" when none),
	// as this node sees the registry; nil shows counts per node only.
	Owners func() []string
	// Warnings are this node's recent warnings; nil leaves them out.
	Warnings *Warnings
	// Sample is how often the cluster's figures are sampled (default 2s).
	Sample time.Duration
	// Span is how far back the charts go (default 10m).
	Span time.Duration
	// LagEvery is how often the registry is read for the lag histogram
	// (default 30s; gathering the registry runs the node's gauges).
	LagEvery time.Duration
	// Timeout bounds each request the page sends (default 3s).
	Timeout time.Duration
	// MaxConcurrent bounds the pages rendered at once (default 8); more
	// are answered 503, so the page cannot flood the cluster with stats.
	MaxConcurrent int
	// Logger gets the page's own failures (default: discarded).
	Logger *slog.Logger
}

// Limits on what a request may ask, each answered 400 (414 for the URL)
// before anything is sent.
const (
	maxQueryLen   = 2048
	maxIDLen      = 256 // api.MaxIDLen
	maxCursorLen  = 1024
	defaultNext   = 10
	maxNext       = 100 // the server's most for Timer-Upcoming
	listPageLimit = 50
)

//go:embed page.html
var templates embed.FS

// refreshScript reloads the overview every 10 s while it is visible, unless
// the person is typing or turned it off. The page's Content-Security-Policy
// allows this script alone, by its hash.
const refreshScript = `(function(){var box=document.getElementById("auto");if(!box)return;` +
	`try{box.checked=localStorage.getItem("timerd-auto")!=="off";}catch(e){}` +
	`box.onchange=function(){try{localStorage.setItem("timerd-auto",box.checked?"on":"off");}catch(e){}};` +
	`setInterval(function(){var a=document.activeElement;` +
	`if(box.checked&&document.visibilityState==="visible"&&!(a&&a.tagName==="INPUT"&&a.type!=="checkbox"))location.reload();},10000);})();`

var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(refreshScript))
	return "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
		"script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// Page is the status page: an http.Handler for "/" and what lies under it,
// and the sampler that keeps its charts' history.
type Page struct {
	cfg    Config
	hist   history
	mux    *http.ServeMux
	tmpl   *template.Template
	slots  chan struct{} // one per page being rendered
	cancel context.CancelFunc
	done   chan struct{} // closed when the sampler has stopped
}

// Start checks cfg, starts the sampler and answers the page. Close stops it.
func Start(cfg Config) (*Page, error) {
	if cfg.Client == nil {
		return nil, errors.New("statuspage: Config.Client is nil")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Sample, 2*time.Second)
	def(&cfg.Span, 10*time.Minute)
	def(&cfg.LagEvery, 30*time.Second)
	def(&cfg.Timeout, 3*time.Second)
	cfg.LagEvery = max(cfg.LagEvery, cfg.Sample)
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tmpl, err := template.New("page.html").Funcs(funcs).ParseFS(templates, "page.html")
	if err != nil {
		return nil, err
	}
	p := &Page{cfg: cfg, tmpl: tmpl, slots: make(chan struct{}, cfg.MaxConcurrent), done: make(chan struct{})}
	p.hist.keep = int(cfg.Span/cfg.Sample) + 1
	p.mux = http.NewServeMux()
	// GET patterns alone: any other method is answered 405 by the mux,
	// so the page cannot be used to change anything.
	p.mux.HandleFunc("GET /{$}", p.bounded(p.overview))
	p.mux.HandleFunc("GET /timer", p.bounded(p.timer))
	p.mux.HandleFunc("GET /timers", p.bounded(p.timers))
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
	return p, nil
}

// Close stops the sampler and waits for it. Closing twice is fine.
func (p *Page) Close() {
	p.cancel()
	<-p.done
}

// ServeHTTP answers the page's paths.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	p.mux.ServeHTTP(w, r)
}

// bounded refuses an over-long URL and more renders than MaxConcurrent,
// and gives the handler a context that ends with the request.
func (p *Page) bounded(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > maxQueryLen {
			p.fail(w, http.StatusRequestURITooLong, "The query is %d bytes; at most %d are read.", len(r.URL.RawQuery), maxQueryLen)
			return
		}
		select {
		case p.slots <- struct{}{}:
			defer func() { <-p.slots }()
		default:
			w.Header().Set("Retry-After", "2")
			p.fail(w, http.StatusServiceUnavailable, "%d pages are being drawn; try again in a moment.", cap(p.slots))
			return
		}
		h(w, r)
	}
}

// render writes the named template with status code.
func (p *Page) render(w http.ResponseWriter, code int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := p.tmpl.ExecuteTemplate(w, name, data); err != nil {
		p.cfg.Logger.Warn("status page: render", "template", name, "err", err)
	}
}

// fail answers a page that says what went wrong.
func (p *Page) fail(w http.ResponseWriter, code int, format string, args ...any) {
	p.render(w, code, "error", errorView{Frame: p.frame(http.StatusText(code)), Code: code, Message: sprintf(format, args...)})
}

// call runs one API request bounded by the page's timeout.
func (p *Page) call(r *http.Request, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
	defer cancel()
	return fn(ctx)
}
