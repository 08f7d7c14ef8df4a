package service

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nuid"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/cronfeed"
	"github.com/timerd/timerd/internal/record"
	"github.com/timerd/timerd/internal/shard"
)

// fields is one schedule request as sent, from headers or a batch element,
// before validation. name says how to name a field in an error message.
type fields struct {
	id, subject, in, at, cron, repeat, zone, start, end string
	maxFires, misfire, jitter, replace, expected        string
	dialect, dryRun, upcoming                           string
	tenant                                              bool // a tenant's request: --rules apply, not --allow-subjects
	headers                                             []record.Header
	payload                                             []byte
	name                                                func(header string) string
}

// scheduleHeaders maps the lower-cased Timer-* request headers of schedule
// to their fields; any other Timer-* header is refused, so a misspelt one
// does not go unnoticed.
var scheduleHeaders = map[string]func(*fields) *string{
	"timer-id":                func(f *fields) *string { return &f.id },
	"timer-subject":           func(f *fields) *string { return &f.subject },
	"timer-in":                func(f *fields) *string { return &f.in },
	"timer-at":                func(f *fields) *string { return &f.at },
	"timer-cron":              func(f *fields) *string { return &f.cron },
	"timer-repeat":            func(f *fields) *string { return &f.repeat },
	"timer-time-zone":         func(f *fields) *string { return &f.zone },
	"timer-start":             func(f *fields) *string { return &f.start },
	"timer-end":               func(f *fields) *string { return &f.end },
	"timer-max-fires":         func(f *fields) *string { return &f.maxFires },
	"timer-misfire":           func(f *fields) *string { return &f.misfire },
	"timer-jitter":            func(f *fields) *string { return &f.jitter },
	"timer-replace":           func(f *fields) *string { return &f.replace },
	"timer-expected-revision": func(f *fields) *string { return &f.expected },
	"timer-cron-dialect":      func(f *fields) *string { return &f.dialect },
	"timer-dry-run":           func(f *fields) *string { return &f.dryRun },
	"timer-upcoming":          func(f *fields) *string { return &f.upcoming },
}

// canonicalHeader is the protocol's spelling of a Timer-* header, for messages.
func canonicalHeader(lower string) string {
	parts := strings.Split(lower, "-")
	for i, p := range parts {
		if p == "id" {
			parts[i] = "Id"
			continue
		}
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

func headerName(h string) string { return h }

// fromHeaders reads a schedule request. Header names are case-insensitive
// and values trimmed; Nats-* headers are dropped and every other header is
// kept for the fires, in a stable order. nats.go keeps names as sent, so
// Timer-In and timer-in arrive as two keys: a header sent twice, in any
// spelling or with two values, is a 400 rather than a random pick.
func fromHeaders(h map[string][]string, payload []byte) (*fields, *api.Error) {
	f := &fields{payload: payload, name: headerName}
	// The Timer-* headers read so far: where each went and how it was
	// spelt. The array holds them all without an allocation.
	type readHeader struct {
		into *string
		as   string
	}
	var readBuf [16]readHeader
	read := readBuf[:0]
	var buf [64]byte
	for key, values := range h {
		lower := toLower(buf[:0], key)
		switch {
		case bytes.HasPrefix(lower, []byte("nats-")):
			continue
		case bytes.HasPrefix(lower, []byte("timer-")):
			field, ok := scheduleHeaders[string(lower)]
			if !ok {
				return nil, badf("unknown header %s; schedule accepts %s", key, acceptedHeaders())
			}
			if len(values) > 1 {
				return nil, sentTimes(canonicalHeader(string(lower)), len(values))
			}
			into := field(f)
			for _, r := range read {
				if r.into == into {
					return nil, sentTwice(canonicalHeader(string(lower)), r.as, key)
				}
			}
			read = append(read, readHeader{into, key})
			*into = strings.TrimSpace(values[0])
		default:
			if len(values) > 1 {
				return nil, sentTimes(key, len(values))
			}
			f.headers = append(f.headers, record.Header{Key: key, Value: values[0]})
		}
	}
	if err := checkKept("kept headers", f.headers); err != nil {
		return nil, err
	}
	slices.SortStableFunc(f.headers, func(a, b record.Header) int { return strings.Compare(a.Key, b.Key) })
	return f, nil
}

// toLower is strings.ToLower(s) written into buf: no allocation for the
// usual header name, ASCII and short.
func toLower(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return append(buf[:0], strings.ToLower(s)...)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

func acceptedHeaders() string {
	names := make([]string, 0, len(scheduleHeaders))
	for k := range scheduleHeaders {
		names = append(names, canonicalHeader(k))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// fromItem reads one batch element. Its fields are a value, not each an
// allocation: the batch's loop holds them one at a time.
func fromItem(it *batchItem) (fields, *api.Error) {
	f := fields{
		id: strings.TrimSpace(it.id), subject: strings.TrimSpace(it.subject), in: strings.TrimSpace(it.in),
		at: strings.TrimSpace(it.at), cron: strings.TrimSpace(it.cron), repeat: strings.TrimSpace(it.repeat),
		zone: strings.TrimSpace(it.zone), start: strings.TrimSpace(it.start), end: strings.TrimSpace(it.end),
		misfire: strings.TrimSpace(it.misfire), jitter: strings.TrimSpace(it.jitter), dialect: strings.TrimSpace(it.dialect),
		headers: it.headers, name: batchFieldName,
	}
	if it.hasMaxFires {
		f.maxFires = strconv.FormatInt(it.maxFires, 10)
	}
	if it.replace {
		f.replace = "true"
	}
	switch {
	case it.hasData && it.hasDataB64:
		return fields{}, badf("give data or data_b64, not both")
	case it.hasData:
		f.payload = it.data
	case it.hasDataB64:
		p := make([]byte, base64.StdEncoding.DecodedLen(len(it.dataB64)))
		n, err := base64.StdEncoding.Decode(p, it.dataB64)
		if err != nil {
			return fields{}, badf("data_b64 is not standard base64: %v", err)
		}
		f.payload = p[:n]
	}
	if err := checkKept("headers", it.headers); err != nil {
		return fields{}, err
	}
	for _, h := range it.headers {
		lower := strings.ToLower(h.Key)
		if strings.HasPrefix(lower, "timer-") || strings.HasPrefix(lower, "nats-") {
			return fields{}, badf("headers: %q is reserved (Timer-* and Nats-* are not kept); use the element's fields instead", h.Key)
		}
	}
	return f, nil
}

// batchFieldName names a header's batch field: Timer-Max-Fires -> max_fires.
func batchFieldName(header string) string { return batchFieldNames[header] }

// batchFieldNames are the names of batchFieldName, made once: build names
// fields on every request, not only to report an error.
var batchFieldNames = func() map[string]string {
	names := make(map[string]string, len(scheduleHeaders))
	for lower := range scheduleHeaders {
		names[canonicalHeader(lower)] = strings.ReplaceAll(strings.TrimPrefix(lower, "timer-"), "-", "_")
	}
	return names
}()

func badf(format string, args ...any) *api.Error {
	return &api.Error{Code: api.CodeBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// build validates f into a schedule request, computing a one-shot's due
// time from now (the receipt time).
func (l *limits) build(f *fields, now time.Time) (shard.Request, *api.Error) {
	n := f.name
	var req shard.Request
	if err := l.checkSubject(n(api.HeaderSubject), f.subject, f.tenant); err != nil {
		return req, err
	}
	id := f.id
	if id == "" {
		id = nuid.Next()
	} else if err := CheckID(n(api.HeaderID), id); err != nil {
		return req, err
	}
	if err := l.checkFire(id, f.subject, f.in+f.at+f.cron+f.repeat, f.headers, f.payload); err != nil {
		return req, err
	}
	r := &record.Timer{ID: id, Subject: f.subject, Created: now.UnixNano(), Headers: f.headers, Payload: f.payload}
	var given []string
	for _, k := range []struct {
		header, value string
		kind          record.Kind
	}{{api.HeaderIn, f.in, record.KindIn}, {api.HeaderAt, f.at, record.KindAt}, {api.HeaderCron, f.cron, record.KindCron}, {api.HeaderRepeat, f.repeat, record.KindRepeat}} {
		if k.value != "" {
			given = append(given, k.header)
			r.Kind, r.Spec = k.kind, k.value
		}
	}
	switch len(given) {
	case 0:
		return req, badf("when to fire is missing: give one of %s, %s, %s or %s", n(api.HeaderIn), n(api.HeaderAt), n(api.HeaderCron), n(api.HeaderRepeat))
	case 1:
	default:
		for i, h := range given {
			given[i] = n(h)
		}
		return req, badf("%s were all given; give exactly one of them", strings.Join(given, " and "))
	}
	if err := parseWhen(r, f, now); err != nil {
		return req, err
	}
	if err := parseOptions(r, f); err != nil {
		return req, err
	}
	if err := checkJitteredDue(r, f); err != nil {
		return req, err
	}
	if f.dialect != "" {
		if r.Kind != record.KindCron {
			return req, badf("%s applies to %s only", n(api.HeaderCronDialect), n(api.HeaderCron))
		}
		d, err := cronfeed.ParseDialect(f.dialect)
		if err != nil {
			return req, badf("%s: %s", n(api.HeaderCronDialect), strings.TrimPrefix(err.Error(), "cronfeed: "))
		}
		r.Dialect = d
	}
	if r.Kind.Recurring() {
		sched, err := cronfeed.Compile(shard.SpecOf(r))
		if errors.Is(err, cronfeed.ErrNoOccurrence) {
			// Its sentence says what bounded the schedule, not the spec.
			return req, badf("%s %q: %s", n(kindHeader(r.Kind)), r.Spec, strings.TrimPrefix(err.Error(), "cronfeed: "))
		}
		if err != nil {
			// cronfeed's sentences quote the value and say what is accepted.
			return req, badf("%s: %s", n(kindHeader(r.Kind)), strings.TrimPrefix(err.Error(), "cronfeed: "))
		}
		if _, ok := sched.First(); !ok {
			return req, badf("%s %q: no occurrence at all between its start and end", n(kindHeader(r.Kind)), r.Spec)
		}
		if r.Kind == record.KindCron {
			r.Dialect = sched.Dialect() // stored: a reload reads the spec as it was read now
		}
	}
	switch strings.ToLower(f.dryRun) {
	case "", "false":
	case "true":
		req.DryRun = true
	default:
		return req, badf("%s %q: want true or false", n(api.HeaderDryRun), f.dryRun)
	}
	if f.upcoming != "" && !req.DryRun {
		return req, badf("%s applies to get and to a dry run (%s: true), not to a create", n(api.HeaderUpcoming), n(api.HeaderDryRun))
	}
	switch strings.ToLower(f.replace) {
	case "", "false":
	case "true":
		req.Replace = true
	default:
		return req, badf("%s %q: want true or false", n(api.HeaderReplace), f.replace)
	}
	if f.expected != "" {
		v, err := strconv.ParseUint(f.expected, 10, 64)
		if err != nil {
			return req, badf("%s %q: want a revision number from a previous reply", n(api.HeaderExpectedRevision), f.expected)
		}
		if !req.Replace {
			return req, badf("%s needs %s: true on schedule (it guards a replace)", n(api.HeaderExpectedRevision), n(api.HeaderReplace))
		}
		req.ExpectedRevision, req.HasExpected = v, true
	}
	r.ReqHash = f.hash()
	req.Timer = r
	return req, nil
}

func kindHeader(k record.Kind) string {
	if k == record.KindCron {
		return api.HeaderCron
	}
	return api.HeaderRepeat
}

// parseWhen sets a one-shot's due time. Every time a request names is
// checked against cronfeed's range (int64 nanoseconds since 1970) before it
// becomes nanoseconds, so none wraps around.
func parseWhen(r *record.Timer, f *fields, now time.Time) *api.Error {
	n := f.name
	switch r.Kind {
	case record.KindIn:
		due, err := cronfeed.DelayDue(f.in, now)
		if err != nil {
			return badf("%s %q: %s", n(api.HeaderIn), f.in, strings.TrimPrefix(err.Error(), "cronfeed: "))
		}
		r.Due = due.UnixNano()
	case record.KindAt:
		at, err := parseTime(f.at)
		if err != nil {
			return badf("%s %q: %v", n(api.HeaderAt), f.at, err)
		}
		r.Due = at.UnixNano()
	}
	return nil
}

// checkJitteredDue refuses a one-shot whose jitter could push its fire past
// the end of the range, where the node's due + jitter would wrap.
func checkJitteredDue(r *record.Timer, f *fields) *api.Error {
	if r.Kind.Recurring() || r.Jitter == 0 || r.Due <= math.MaxInt64-r.Jitter {
		return nil
	}
	latest := time.Unix(0, r.Due).Add(time.Duration(r.Jitter))
	return badf("%s %q with %s %q could fire as late as %s, after %s, the latest time timerd can hold; want an earlier time or a shorter jitter",
		f.name(kindName(r.Kind)), r.Spec, f.name(api.HeaderJitter), f.jitter, api.FormatTime(latest), api.FormatTime(cronfeed.MaxTime))
}

// parseTime is an RFC 3339 time with optional fraction and offset, in
// cronfeed's range.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not an RFC 3339 time; want for example 2027-01-02T03:04:05Z or 2027-01-02T03:04:05.250+01:00")
	}
	if err := cronfeed.CheckTime(t); err != nil {
		return time.Time{}, errors.New(strings.TrimPrefix(err.Error(), "cronfeed: "))
	}
	return t, nil
}

func parseOptions(r *record.Timer, f *fields) *api.Error {
	n := f.name
	recurringOnly := func(header, value string) *api.Error {
		if value != "" && !r.Kind.Recurring() {
			return badf("%s applies to recurring timers (%s or %s), not to %s", n(header), n(api.HeaderCron), n(api.HeaderRepeat), n(kindName(r.Kind)))
		}
		return nil
	}
	for _, o := range []struct{ header, value string }{
		{api.HeaderTimeZone, f.zone}, {api.HeaderStart, f.start}, {api.HeaderEnd, f.end},
		{api.HeaderMaxFires, f.maxFires}, {api.HeaderMisfire, f.misfire},
	} {
		if err := recurringOnly(o.header, o.value); err != nil {
			return err
		}
	}
	r.TimeZone = f.zone
	if f.zone != "" {
		if _, err := cronfeed.LoadZone(f.zone); err != nil {
			return badf("%s: %s", n(api.HeaderTimeZone), strings.TrimPrefix(err.Error(), "cronfeed: "))
		}
	}
	for _, b := range []struct {
		header, value string
		into          *int64
	}{{api.HeaderStart, f.start, &r.Start}, {api.HeaderEnd, f.end, &r.End}} {
		if b.value == "" {
			continue
		}
		t, err := parseTime(b.value)
		if err != nil {
			return badf("%s %q: %v", n(b.header), b.value, err)
		}
		*b.into = t.UnixNano()
	}
	if r.Start != 0 && r.End != 0 && r.End < r.Start {
		return badf("%s %q is before %s %q", n(api.HeaderEnd), f.end, n(api.HeaderStart), f.start)
	}
	if f.maxFires != "" {
		v, err := strconv.ParseInt(f.maxFires, 10, 64)
		if err != nil || v < 1 {
			return badf("%s %q: want a whole number of 1 or more", n(api.HeaderMaxFires), f.maxFires)
		}
		r.MaxFires = v
	}
	if f.misfire != "" {
		m, err := cronfeed.ParseMisfire(strings.ToLower(f.misfire))
		if err != nil {
			return badf("%s %q: want skip, once or all", n(api.HeaderMisfire), f.misfire)
		}
		r.Misfire = uint8(m)
	}
	if f.jitter != "" {
		d, err := time.ParseDuration(f.jitter)
		if err != nil {
			p, perr := cronfeed.ParsePeriod(f.jitter)
			if perr != nil || p.Years != 0 || p.Months != 0 || p.Days != 0 {
				return badf("%s %q: want a duration like 30s or PT30S (no days, months or years)", n(api.HeaderJitter), f.jitter)
			}
			d = p.Clock
		}
		if d < 0 || d > 24*time.Hour {
			return badf("%s %q: want a duration from 0 to 24h", n(api.HeaderJitter), f.jitter)
		}
		r.Jitter = int64(d)
	}
	return nil
}

func kindName(k record.Kind) string {
	if k == record.KindIn {
		return api.HeaderIn
	}
	return api.HeaderAt
}

// hash identifies the request: its Timer-* fields as sent, subject, kept
// headers and payload. An identical retry has the same hash. It is stored
// with the timer, so the bytes hashed may never change.
func (f *fields) hash() uint64 {
	// All but the payload go in one write: xxhash costs per write. (The
	// buffer is small: requests run on new goroutines' small stacks.)
	var scratch [128]byte
	buf := scratch[:0]
	for _, s := range []string{f.id, f.subject, f.in, f.at, f.cron, f.repeat, f.zone, f.start, f.end,
		f.maxFires, strings.ToLower(f.misfire), f.jitter, strings.ToLower(f.replace), f.expected} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	for _, h := range f.headers {
		buf = binary.AppendUvarint(buf, uint64(len(h.Key)))
		buf = binary.AppendUvarint(buf, uint64(len(h.Value)))
		buf = append(buf, h.Key...)
		buf = append(buf, h.Value...)
	}
	if f.dialect != "" {
		// Hashed only when given, so the hashes of requests stored before
		// dialects existed stay what they were.
		buf = append(buf, 0xff)
		buf = append(buf, strings.ToLower(f.dialect)...)
	}
	d := xxhash.New()
	_, _ = d.Write(buf)
	_, _ = d.Write(f.payload)
	return d.Sum64()
}

// CheckID validates a client timer id: 1–256 bytes of printable ASCII
// without spaces, '*' or '>'.
func CheckID(header, id string) *api.Error {
	if id == "" {
		return badf("%s is required", header)
	}
	if len(id) > api.MaxIDLen {
		return badf("%s is %d bytes; at most %d are allowed", header, len(id), api.MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '*' || c == '>' {
			what := describeByte(id, i)
			if c == '*' || c == '>' {
				what = fmt.Sprintf("%q", string(c))
			}
			return badf("%s %q has %s at position %d; ids are printable ASCII without spaces, '*' or '>'", header, printable(id), what, i)
		}
	}
	return nil
}

func printable(s string) string {
	if utf8.ValidString(s) && len(s) <= 64 {
		return s
	}
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
