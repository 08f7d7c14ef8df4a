package statuspage

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
)

// Frame is what every page shows around its content.
type Frame struct {
	Title  string
	Node   string
	Now    string
	Script template.JS // refreshScript, allowed by the CSP's hash
}

func (p *Page) frame(title string) Frame {
	return Frame{Title: title, Node: p.cfg.Node, Now: time.Now().UTC().Format("2006-01-02 15:04:05Z"), Script: template.JS(refreshScript)}
}

type errorView struct {
	Frame
	Code    int
	Message string
}

// count is one labelled figure.
type count struct {
	Name  string
	Value int64
}

// countTable is a small table of counts by one property.
type countTable struct {
	By   string // kind or state
	Rows []count
}

// nodeRow is one node of the registry.
type nodeRow struct {
	api.NodeStats
	Self    bool
	LastAgo string
}

// cell is one shard of the ownership grid; Owner indexes the legend.
type cell struct {
	Shard int
	Name  string
	Color int // a CSS class o0..o7; -1 for no owner
}

type legendRow struct {
	Name   string
	Color  int
	Shards int
}

// errorsView gathers what has gone wrong.
type errorsView struct {
	Failed                        int64 // timers set aside, cluster-wide
	Counters                      bool  // this node's counters are known
	FireErrors, SetAside, Skipped float64
	Missing                       []string // live nodes that did not answer stats
	Unhealthy                     []string // nodes weak or lost
	Warnings                      []Warning
	WarningsKnown                 bool
}

type overviewView struct {
	Frame
	StatsErr  string
	Stats     api.Stats
	Cluster   api.ClusterStats
	Tables    []countTable // pending by kind, by state
	Nodes     []nodeRow
	Health    map[string]int
	Grid      []cell
	Legend    []legendRow
	GridNote  string
	Fires     lineChart
	Lag       barChart
	LagWindow string
	LagNote   string
	Errors    errorsView
	Span      string
}

func (p *Page) overview(w http.ResponseWriter, r *http.Request) {
	v := overviewView{Frame: p.frame("timerd status"), Span: shortDuration(p.cfg.Span), Health: map[string]int{}}
	err := p.call(r, func(ctx context.Context) error {
		st, err := p.cfg.Client.Stats(ctx)
		v.Stats = st
		return err
	})
	now := time.Now()
	if err != nil {
		v.StatsErr = describe(err)
	} else {
		v.fill(p, now)
	}
	v.Fires = firesChart(p.hist.samples(), now, p.cfg.Span)
	p.lagView(&v, now)
	v.Errors.WarningsKnown = p.cfg.Warnings != nil
	v.Errors.Warnings = p.cfg.Warnings.Recent()
	code := http.StatusOK
	if err != nil {
		code = http.StatusServiceUnavailable // a monitor probing / sees the API is down
	}
	p.render(w, code, "overview", v)
}

// fill derives the overview's tables from the stats reply.
func (v *overviewView) fill(p *Page, now time.Time) {
	st := v.Stats
	if st.Cluster != nil {
		v.Cluster = *st.Cluster
	} else { // a node that does not sum the cluster: its own figures
		v.Cluster = api.ClusterStats{Nodes: 1, Timers: st.Timers, Scheduled: st.Scheduled, Paused: st.Paused,
			Failed: st.Failed, Fired: st.Fired, ByKind: st.ByKind}
	}
	kinds := countTable{By: "kind"}
	for _, k := range []string{api.KindIn, api.KindAt, api.KindCron, api.KindRepeat} {
		kinds.Rows = append(kinds.Rows, count{k, v.Cluster.ByKind[k]})
	}
	v.Tables = []countTable{kinds, {By: "state", Rows: []count{
		{api.StateScheduled, v.Cluster.Scheduled}, {api.StatePaused, v.Cluster.Paused}, {api.StateFailed, v.Cluster.Failed}}}}
	for _, n := range st.Nodes {
		v.Health[n.Health]++
		v.Nodes = append(v.Nodes, nodeRow{NodeStats: n, Self: n.Name == st.Node, LastAgo: (time.Duration(n.LastBeatAgoMs) * time.Millisecond).Round(100 * time.Millisecond).String()})
		if n.Health != "normal" {
			v.Errors.Unhealthy = append(v.Errors.Unhealthy, n.Name+" ("+n.Health+")")
		}
	}
	v.Errors.Failed = v.Cluster.Failed
	v.Errors.Missing = v.Cluster.Missing
	v.grid(p.cfg.Owners, st)
}

// grid draws shard -> owner: from the registry as this node sees it, or,
// without that view, from the answering node's own shards.
func (v *overviewView) grid(owners func() []string, st api.Stats) {
	var own []string
	if owners != nil {
		own = owners()
	}
	if len(own) == 0 {
		own = make([]string, st.Shards)
		for _, s := range st.OwnedShards {
			if s >= 0 && s < len(own) {
				own[s] = st.Node
			}
		}
		v.GridNote = "Only the answering node's shards are known here; the others' counts are in the node table."
	}
	names := map[string]int{}
	for _, n := range own {
		if n != "" {
			names[n]++
		}
	}
	order := make([]string, 0, len(names))
	for n := range names {
		order = append(order, n)
	}
	slices.Sort(order)
	color := map[string]int{}
	for i, n := range order {
		color[n] = i % 8
		v.Legend = append(v.Legend, legendRow{Name: n, Color: i % 8, Shards: names[n]})
	}
	if unowned := len(own) - sum(names); unowned > 0 {
		v.Legend = append(v.Legend, legendRow{Name: "no owner", Color: -1, Shards: unowned})
	}
	for i, n := range own {
		c, ok := color[n]
		if !ok {
			c = -1
		}
		v.Grid = append(v.Grid, cell{Shard: i, Name: n, Color: c})
	}
}

func sum(m map[string]int) int {
	t := 0
	for _, n := range m {
		t += n
	}
	return t
}

// lagView reads the registry now and draws the fires since the window's
// oldest snapshot.
func (p *Page) lagView(v *overviewView, now time.Time) {
	if p.cfg.Metrics == nil {
		v.LagNote = "This node's registry was not given to the page."
		return
	}
	cur, ctr, ok := readRegistry(p.cfg.Metrics, now)
	v.Errors.Counters = ctr.known
	v.Errors.FireErrors, v.Errors.SetAside, v.Errors.Skipped = ctr.fireErrors, ctr.setAside, ctr.skipped
	if !ok {
		v.LagNote = "This node exports no fire lag histogram yet."
		return
	}
	from, ok := p.hist.oldestLag()
	counts := perBucket(cur.counts)
	v.LagWindow = "since this node started"
	// A window younger than one registry read (the page just started)
	// would show nothing of the fires before it: show them all instead.
	if ok && now.Sub(from.at) >= p.cfg.LagEvery {
		counts = lagWindow(from, cur)
		v.LagWindow = "over the last " + shortDuration(now.Sub(from.at).Round(time.Second))
	}
	v.Lag = lagChart(cur.bounds, counts)
}

// timerView is one timer looked up by id.
type timerView struct {
	Frame
	ID       string
	N        int
	Timer    *api.Timer
	Headers  []count2
	Upcoming []occurrence
	Err      string
}

type count2 struct{ Name, Value string }

type occurrence struct {
	UTC   string
	In    string // from now, for people: "in 3h12m"
	Local string // the wall clock of the timer's zone: "Mon 09:30 CET"
}

func (p *Page) timer(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := timerView{Frame: p.frame("timer"), ID: q.Get("id"), N: defaultNext}
	if s := q.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxNext {
			p.fail(w, http.StatusBadRequest, "n %q: give 1 to %d occurrences.", clip(s), maxNext)
			return
		}
		v.N = n
	}
	switch {
	case v.ID == "":
		p.fail(w, http.StatusBadRequest, "Give a timer id: /timer?id=order-1.")
		return
	case len(v.ID) > maxIDLen:
		p.fail(w, http.StatusBadRequest, "The id is %d bytes; a timer id has at most %d.", len(v.ID), maxIDLen)
		return
	}
	v.Title = "timer " + v.ID
	var t api.Timer
	err := p.call(r, func(ctx context.Context) (err error) {
		t, err = p.cfg.Client.Get(ctx, v.ID, client.Upcoming(v.N))
		return err
	})
	code := http.StatusOK
	if err != nil {
		v.Err, code = describe(err), statusOf(err)
		p.render(w, code, "timer", v)
		return
	}
	v.Timer = &t
	keys := make([]string, 0, len(t.Headers))
	for k := range t.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v.Headers = append(v.Headers, count2{k, t.Headers[k]})
	}
	now := time.Now()
	zone, zerr := time.LoadLocation(t.TimeZone) // "" is UTC
	for _, s := range t.Upcoming {
		o := occurrence{UTC: s}
		if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
			o.In = relative(at.Sub(now))
			if zerr == nil && t.TimeZone != "" {
				o.Local = at.In(zone).Format("Mon 2006-01-02 15:04 MST")
			}
		}
		v.Upcoming = append(v.Upcoming, o)
	}
	p.render(w, code, "timer", v)
}

// listView is a page of timers by id prefix.
type listView struct {
	Frame
	Prefix string
	Cursor string
	Timers []api.Timer
	Next   string
	Err    string
}

func (p *Page) timers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := listView{Frame: p.frame("timers"), Prefix: q.Get("prefix"), Cursor: q.Get("cursor")}
	switch {
	case len(v.Prefix) > maxIDLen:
		p.fail(w, http.StatusBadRequest, "The prefix is %d bytes; a timer id has at most %d.", len(v.Prefix), maxIDLen)
		return
	case len(v.Cursor) > maxCursorLen:
		p.fail(w, http.StatusBadRequest, "The cursor is %d bytes; at most %d are read.", len(v.Cursor), maxCursorLen)
		return
	}
	var page api.ListReply
	err := p.call(r, func(ctx context.Context) (err error) {
		page, err = p.cfg.Client.List(ctx, client.ListOptions{Prefix: v.Prefix, Cursor: v.Cursor, Limit: listPageLimit})
		return err
	})
	code := http.StatusOK
	if err != nil {
		v.Err, code = describe(err), statusOf(err)
	}
	v.Timers, v.Next = page.Timers, page.NextCursor
	p.render(w, code, "timers", v)
}

// describe is an API failure in a sentence for the page.
func describe(err error) string {
	return strings.TrimPrefix(err.Error(), "timerd: ")
}

// statusOf is the HTTP status a failed API call is answered with.
func statusOf(err error) int {
	var e *client.Error
	if errors.As(err, &e) && e.Code >= 400 && e.Code < 600 {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusServiceUnavailable
}

// relative writes d for people: "in 3h12m", "in 40s", "2m ago".
func relative(d time.Duration) string {
	ago := d < 0
	if ago {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour:
		s = strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
	case d >= time.Minute:
		s = d.Truncate(time.Second).String()
	default:
		s = d.Round(100 * time.Millisecond).String()
	}
	if ago {
		return s + " ago"
	}
	return "in " + s
}

// clip shortens user input quoted back in a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

var funcs = template.FuncMap{
	"num": groupDigits,
	"bytes": func(n uint64) string {
		const unit = 1024
		if n < unit {
			return fmt.Sprintf("%d B", n)
		}
		v, i := float64(n)/unit, 0
		for v >= unit && i < 4 {
			v /= unit
			i++
		}
		return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
	},
	"f1":    func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"f2":    func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05Z") },
}

// groupDigits writes a count with thousands separators: 1,234,567.
func groupDigits(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt64 {
			return strconv.FormatUint(x, 10)
		}
		n = int64(x)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1e15 {
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		n = int64(x)
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return sign + b.String()
}
