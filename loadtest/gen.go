package main

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/bench/pipe"
)

// GenConfig is what the generator sends.
type GenConfig struct {
	Run          string // unique run id: ids and subjects carry it
	Prefix       string // timerd's API prefix
	Rate         float64
	Duration     time.Duration
	MaxTimers    int
	Kinds        []string
	DelayMin     time.Duration
	DelayMax     time.Duration
	CancelShare  float64
	ReplaceShare float64
	Payload      int
	InFlight     int
	RecurFires   int           // occurrences of each cron / repeat timer
	RecurEvery   time.Duration // their period
	GiveUp       time.Duration // stop retrying a request after this long
	Seed         uint64
}

// FireSubjects is the wildcard of every fire subject of run.
func FireSubjects(run string) string { return "loadtest." + run + ".fire.>" }

// action is something to send at a time: a create's retry, a cancel, a replace.
type action struct {
	at      int64
	op      string // "create", "cancel", "replace"
	id      string
	kind    string
	msg     *nats.Msg // the request, resent as is on retry (it is idempotent)
	first   int64     // first attempt, for GiveUp
	attempt int
	start   int64 // repeat: the first occurrence, fixed by the spec (0: other kinds)
}

type actionQueue []*action

func (q actionQueue) Len() int           { return len(q) }
func (q actionQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q actionQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *actionQueue) Push(x any)        { *q = append(*q, x.(*action)) }
func (q *actionQueue) Pop() any {
	old := *q
	a := old[len(old)-1]
	*q = old[:len(old)-1]
	return a
}

// GenStats counts what the generator did.
type GenStats struct {
	Created     int               `json:"created"`   // creates answered 200
	Cancelled   int               `json:"cancelled"` // cancels answered 200 (or 404: already gone)
	Replaced    int               `json:"replaced"`
	Retries     int               `json:"retries"`
	GaveUp      int               `json:"gave_up"`
	Rejected    int               `json:"rejected"` // answered 4xx though valid
	FirstReject string            `json:"first_reject,omitempty"`
	Unsupported map[string]string `json:"unsupported,omitempty"` // kind -> why it was dropped
	// StaleRetries are repeat creates and replaces answered 400 because they
	// were sent after their own start (delayed by an outage): outcome unknown.
	StaleRetries int `json:"stale_retries,omitempty"`
	// FinishedRetries are cron / repeat creates answered 200, "created":
	// false and no "next": an earlier attempt made the timer and it has
	// fired its last occurrence, so which of them fired is unknown here.
	FinishedRetries int            `json:"finished_retries,omitempty"`
	byKind          map[string]int // creates confirmed per kind
}

// Generator creates timers at a steady rate, and cancels and replaces some
// of them before their time, through timerd's protocol; the Model learns
// every confirmed outcome.
type Generator struct {
	cfg   GenConfig
	model *Model
	p     *pipe.Pipeline
	log   func(string, ...any)

	mu       sync.Mutex // guards the fields below
	rng      *rand.Rand
	queue    actionQueue
	stats    GenStats
	disabled map[string]bool
	seq      int
	outcomes int // replies and failures handled
}

// NewGenerator prepares a generator over nc.
func NewGenerator(nc *nats.Conn, cfg GenConfig, model *Model, log func(string, ...any)) (*Generator, error) {
	p, err := pipe.New(nc, cfg.InFlight, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &Generator{cfg: cfg, model: model, p: p, log: log, rng: rand.New(rand.NewPCG(cfg.Seed, 0x10ad)),
		disabled: map[string]bool{}, stats: GenStats{Unsupported: map[string]string{}}}, nil
}

// Close stops the generator's pipeline.
func (g *Generator) Close() { g.p.Close() }

// Stats is a copy of the counts so far.
func (g *Generator) Stats() GenStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.Unsupported = map[string]string{}
	for k, v := range g.stats.Unsupported {
		s.Unsupported[k] = v
	}
	return s
}

// Run sends creates at the configured rate for the configured time (or
// count), then keeps sending the cancels, replaces and retries it planned
// until none is left; ctx bounds it all.
func (g *Generator) Run(ctx context.Context) error {
	begin := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for {
		now := time.Now()
		generating := now.Sub(begin) < g.cfg.Duration && (g.cfg.MaxTimers == 0 || sent < g.cfg.MaxTimers)
		if generating {
			due := int(g.cfg.Rate * now.Sub(begin).Seconds())
			if g.cfg.MaxTimers > 0 {
				due = min(due, g.cfg.MaxTimers)
			}
			for ; sent < due && ctx.Err() == nil; sent++ {
				g.send(ctx, g.newCreate(now))
			}
		}
		for _, a := range g.dueActions(now.UnixNano()) {
			g.send(ctx, a)
		}
		if !generating && g.idle() {
			return g.p.Wait(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (g *Generator) idle() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue) == 0 && g.p.InFlight() == 0
}

func (g *Generator) dueActions(now int64) []*action {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*action
	for len(g.queue) > 0 && g.queue[0].at <= now && len(out) < 5000 {
		out = append(out, heap.Pop(&g.queue).(*action))
	}
	return out
}

func (g *Generator) plan(a *action) {
	g.mu.Lock()
	heap.Push(&g.queue, a)
	g.mu.Unlock()
}

// pickKind chooses among the kinds still enabled.
func (g *Generator) pickKind() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var live []string
	for _, k := range g.cfg.Kinds {
		if !g.disabled[k] {
			live = append(live, k)
		}
	}
	if len(live) == 0 {
		return kindIn
	}
	return live[g.rng.IntN(len(live))]
}

func (g *Generator) randDelay() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	span := g.cfg.DelayMax - g.cfg.DelayMin
	if span <= 0 {
		return g.cfg.DelayMin
	}
	return g.cfg.DelayMin + time.Duration(g.rng.Int64N(int64(span)))
}

func (g *Generator) chance(p float64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rng.Float64() < p
}

func (g *Generator) newCreate(now time.Time) *action {
	g.mu.Lock()
	g.seq++
	n := g.seq
	g.mu.Unlock()
	id := "lt-" + g.cfg.Run + "-" + strconv.Itoa(n)
	kind := g.pickKind()
	msg, start := g.scheduleMsg(id, kind, now, 0, false)
	return &action{op: "create", id: id, kind: kind, msg: msg, start: start}
}

// scheduleMsg builds a timerd.schedule request of the given kind; version
// tells a replace's payload from the original's. For a repeat it returns
// the spec's first occurrence too. A replace's repeat starts half a second
// off the whole second, so its occurrences never share a nominal time (and
// so a Nats-Msg-Id) with the spec it replaces.
func (g *Generator) scheduleMsg(id, kind string, now time.Time, version int, replace bool) (*nats.Msg, int64) {
	var start int64
	m := nats.NewMsg(g.cfg.Prefix + "." + api.EndpointSchedule)
	h := m.Header
	h.Set(api.HeaderID, id)
	h.Set(api.HeaderSubject, "loadtest."+g.cfg.Run+".fire."+strconv.Itoa(len(id)%16))
	delay := g.randDelay()
	switch kind {
	case kindIn:
		h.Set(api.HeaderIn, delay.String())
	case kindAt:
		h.Set(api.HeaderAt, api.FormatTime(now.Add(delay)))
	case kindCron:
		h.Set(api.HeaderCron, "@every "+g.cfg.RecurEvery.String())
		h.Set(api.HeaderMaxFires, strconv.Itoa(g.cfg.RecurFires))
		h.Set(api.HeaderMisfire, api.MisfireAll)
	case kindRepeat:
		first := now.Add(delay).Truncate(time.Second).Add(time.Second).UTC()
		if replace {
			first = first.Add(500 * time.Millisecond)
		}
		start = first.UnixNano()
		h.Set(api.HeaderRepeat, fmt.Sprintf("R%d/%s/PT%gS", g.cfg.RecurFires, first.Format(time.RFC3339Nano), g.cfg.RecurEvery.Seconds()))
		h.Set(api.HeaderMisfire, api.MisfireAll)
	}
	if replace {
		h.Set(api.HeaderReplace, "true")
	}
	payload := []byte(id + "#" + strconv.Itoa(version) + "#")
	for len(payload) < g.cfg.Payload {
		payload = append(payload, 'x')
	}
	m.Data = payload
	return m, start
}

// occurrences turns a schedule reply into the nominal times the timer must
// fire, and those it may fire. A one-shot's is the reply's next. A
// repeat's follow from its spec, from the reply's next on: those before
// were before its creation (skipped by design) when the reply created it,
// and may have fired already when it did not. A cron @every timer's follow
// from the reply's next when the reply created it; a retry answered
// "created": false tells only the next one left (ok is false then).
func (g *Generator) occurrences(a *action, rep api.ScheduleReply) (must, may []int64, ok bool, err error) {
	t, err := time.Parse(time.RFC3339Nano, rep.Next)
	if err != nil {
		return nil, nil, false, fmt.Errorf("reply next %q: %w", rep.Next, err)
	}
	next := t.UnixNano()
	switch a.kind {
	case kindIn, kindAt:
		return []int64{next}, nil, true, nil
	case kindCron:
		if !rep.Created {
			return nil, nil, false, nil
		}
		for k := 0; k < g.cfg.RecurFires; k++ {
			must = append(must, t.Add(time.Duration(k)*g.cfg.RecurEvery).UnixNano())
		}
		return must, nil, true, nil
	}
	for k := 0; k < g.cfg.RecurFires; k++ {
		n := a.start + int64(k)*int64(g.cfg.RecurEvery)
		switch {
		case n >= next:
			must = append(must, n)
		case !rep.Created:
			may = append(may, n)
		}
	}
	return must, may, true, nil
}

func (g *Generator) send(ctx context.Context, a *action) {
	a.attempt++
	if a.attempt == 1 {
		a.first = time.Now().UnixNano()
	}
	if a.op == "cancel" {
		a.msg = nats.NewMsg(g.cfg.Prefix + "." + api.EndpointCancel)
		a.msg.Header.Set(api.HeaderID, a.id)
	}
	msg := &nats.Msg{Subject: a.msg.Subject, Header: a.msg.Header, Data: a.msg.Data}
	if err := g.p.Send(ctx, msg, func(m *nats.Msg, err error) { g.outcome(a, m, err) }); err != nil {
		g.outcome(a, nil, err)
	}
}

// retryable says whether a failure may pass: no answer, not ready, busy.
func retryable(code int, err error) bool {
	return err != nil || code == api.CodeNotReady || code == api.CodeTooMany || code == api.CodeInternal
}

func (g *Generator) outcome(a *action, m *nats.Msg, err error) {
	now := time.Now()
	code := 200
	var msg string
	if err == nil {
		if c := m.Header.Get(api.HeaderErrorCode); c != "" {
			code, _ = strconv.Atoi(c)
			msg = m.Header.Get(api.HeaderError)
		}
	}
	if code == 200 && err == nil {
		g.succeeded(a, m, now)
		return
	}
	if retryable(code, err) {
		if now.Sub(time.Unix(0, a.first)) < g.cfg.GiveUp {
			g.mu.Lock()
			g.stats.Retries++
			g.mu.Unlock()
			backoff := min(time.Duration(a.attempt)*50*time.Millisecond, time.Second)
			a.at = now.Add(backoff).UnixNano()
			g.plan(a)
			return
		}
		g.count(func(s *GenStats) { s.GaveUp++ })
		g.model.Uncertain(a.id) // it may or may not have happened
		return
	}
	switch {
	case a.op == "cancel" && code == api.CodeNotFound:
		// Fired already, or an earlier attempt cancelled it: either way
		// nothing of it may fire after now.
		g.model.Cancelled(a.id, now.UnixNano(), fmt.Sprintf("cancel 404 at %s (attempt %d)", clock(now), a.attempt))
		g.count(func(s *GenStats) { s.Cancelled++ })
	case a.op != "cancel" && a.kind == kindRepeat && code == api.CodeBadRequest && a.start < now.UnixNano():
		// Sent (or resent) after its own start: timerd validates before it
		// checks idempotency, so whether an earlier attempt was stored is
		// unknown.
		g.count(func(s *GenStats) { s.StaleRetries++ })
		g.model.Uncertain(a.id)
	case a.op == "create" && (a.kind == kindCron || a.kind == kindRepeat) && (code == api.CodeBadRequest || code == api.CodeInternal) && !g.succeededKind(a.kind):
		g.mu.Lock()
		if !g.disabled[a.kind] {
			g.disabled[a.kind] = true
			g.stats.Unsupported[a.kind] = fmt.Sprintf("%d %s", code, msg)
			g.log("kind %s is not supported by this timerd (%d %s); going on without it", a.kind, code, msg)
		}
		g.mu.Unlock()
	default:
		g.mu.Lock()
		g.stats.Rejected++
		if g.stats.FirstReject == "" {
			g.stats.FirstReject = fmt.Sprintf("%s %s: %d %s", a.op, a.id, code, msg)
		}
		g.mu.Unlock()
		if a.op != "create" {
			g.model.Uncertain(a.id)
		}
	}
}

func (g *Generator) count(f func(*GenStats)) {
	g.mu.Lock()
	f(&g.stats)
	g.mu.Unlock()
}

func (g *Generator) succeeded(a *action, m *nats.Msg, now time.Time) {
	if a.op == "cancel" {
		g.model.Cancelled(a.id, now.UnixNano(), fmt.Sprintf("cancel ok at %s (attempt %d)", clock(now), a.attempt))
		g.count(func(s *GenStats) { s.Cancelled++ })
		return
	}
	var rep api.ScheduleReply
	err := json.Unmarshal(m.Data, &rep)
	if err == nil && rep.Next == "" && !rep.Created && (a.kind == kindCron || a.kind == kindRepeat) {
		g.count(func(s *GenStats) { s.FinishedRetries++ })
		g.model.Uncertain(a.id)
		return
	}
	if err != nil || rep.Next == "" {
		g.count(func(s *GenStats) {
			s.Rejected++
			if s.FirstReject == "" {
				s.FirstReject = fmt.Sprintf("%s %s: reply %q", a.op, a.id, strings.TrimSpace(string(m.Data)))
			}
		})
		g.model.Uncertain(a.id)
		return
	}
	occ, may, ok, err := g.occurrences(a, rep)
	if err != nil {
		g.count(func(s *GenStats) { s.Rejected++ })
		g.model.Uncertain(a.id)
		return
	}
	if !ok {
		g.model.Uncertain(a.id)
		return
	}
	g.model.Confirmed(a.id, a.kind, occ, may, now.UnixNano(), fmt.Sprintf("%s ok at %s (attempt %d, created %v)", a.op, clock(now), a.attempt, rep.Created))
	g.count(func(s *GenStats) {
		if s.byKind == nil {
			s.byKind = map[string]int{}
		}
		s.byKind[a.kind]++
	})
	if a.op == "replace" {
		g.count(func(s *GenStats) { s.Replaced++ })
		return
	}
	g.count(func(s *GenStats) { s.Created++ })
	// Plan a cancel or a replace somewhere before the last occurrence, and
	// now and then a little after it, so some race the fire.
	span := int64(0)
	if len(occ) > 0 {
		span = occ[len(occ)-1] - now.UnixNano()
	}
	when := func() int64 {
		g.mu.Lock()
		defer g.mu.Unlock()
		return now.UnixNano() + int64(float64(max(span, 0))*g.rng.Float64()*1.1)
	}
	switch {
	case g.chance(g.cfg.CancelShare):
		g.plan(&action{at: when(), op: "cancel", id: a.id, kind: a.kind})
	case g.chance(g.cfg.ReplaceShare / max(1-g.cfg.CancelShare, 1e-9)):
		at := when()
		msg, start := g.scheduleMsg(a.id, a.kind, time.Unix(0, at), 1, true)
		g.plan(&action{at: at, op: "replace", id: a.id, kind: a.kind, msg: msg, start: start})
	}
}

// succeededKind says whether a create of kind was ever confirmed.
func (g *Generator) succeededKind(kind string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats.byKind[kind] > 0
}

// clock prints t for diagnostics.
func clock(t time.Time) string { return t.UTC().Format("15:04:05.000000") }
