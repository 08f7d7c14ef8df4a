package hist

// Timeline keeps one Histogram per fixed interval since a start, for
// "lag over time" series. Values are placed by the time they were observed.
type Timeline struct {
	start    int64 // Unix ns of interval 0
	interval int64 // ns, > 0
	slots    []*Histogram
}

// NewTimeline starts a timeline at start (Unix ns) with the given interval
// in ns (<= 0 means one second).
func NewTimeline(start, interval int64) *Timeline {
	if interval <= 0 {
		interval = 1e9
	}
	return &Timeline{start: start, interval: interval}
}

// maxSlots bounds the timeline (a day of one-second slots), so a stray
// timestamp cannot allocate without limit.
const maxSlots = 86400

// Record adds value v observed at time at (Unix ns). Observations before
// the start go to interval 0, after the last allowed interval to the last.
func (t *Timeline) Record(at, v int64) {
	i := int((at - t.start) / t.interval)
	i = min(max(i, 0), maxSlots-1)
	for len(t.slots) <= i {
		t.slots = append(t.slots, nil)
	}
	if t.slots[i] == nil {
		t.slots[i] = &Histogram{}
	}
	t.slots[i].Record(v)
}

// Point summarizes one interval.
type Point struct {
	Offset int64 // start of the interval, ns after the timeline's start
	Count  uint64
	P50    int64
	P99    int64
	Max    int64
}

// Points returns one summary per interval from the first to the last that
// has values; empty intervals in between have Count 0.
func (t *Timeline) Points() []Point {
	var out []Point
	for i, h := range t.slots {
		p := Point{Offset: int64(i) * t.interval}
		if h != nil && h.Count() > 0 {
			p.Count, p.P50, p.P99, p.Max = h.Count(), h.Quantile(0.50), h.Quantile(0.99), h.Max()
		}
		out = append(out, p)
	}
	return out
}

// Start is the timeline's start (Unix ns).
func (t *Timeline) Start() int64 { return t.start }
