package client

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
)

// Timer is what to schedule: where it fires, when, and with what.
//
// When is set by exactly one of In (or InSpec), At, Cron and Repeat. With
// none of them set the timer is a one-shot after In, so the zero In fires at
// once; this lets computed delays (time.Until(deadline), clamped at zero)
// need no special case.
type Timer struct {
	ID      string // client id; "" lets the server make one (returned in the reply)
	Subject string // literal subject fires are published to; required

	In       time.Duration // one-shot after this delay (sent as d.String())
	InSpec   string        // raw Timer-In text, Go or ISO 8601 ("1500ms", "P1DT2H"); wins over In
	At       time.Time     // one-shot at this instant
	Cron     string        // cron expression or descriptor ("0 6 * * *", "@every 5m")
	Repeat   string        // ISO 8601 repeating interval ("R3/2030-01-01T00:00:00Z/PT1H")
	TimeZone string        // IANA zone of the local times in Cron and Repeat (default UTC)
	// CronDialect says how to read Cron: "" or "standard" (Vixie cron),
	// "quartz" or "eventbridge" (Timer-Cron-Dialect; docs/semantics.md).
	CronDialect string

	Start    time.Time     // recurring: no occurrence before this
	End      time.Time     // recurring: no occurrence after this
	MaxFires int64         // recurring: stop after this many fires; 0: no limit
	Misfire  string        // recurring: api.MisfireSkip, MisfireOnce (default) or MisfireAll
	Jitter   time.Duration // up to this much delay added to each occurrence

	Replace          bool   // replace an existing timer with this id instead of a conflict
	ExpectedRevision uint64 // needs Replace: replace only at this revision; 0: any

	Headers nats.Header // copied onto every fire; Timer-* and Nats-* are not allowed
	Data    []byte      // payload of every fire; not copied, do not change it during the call
}

// Msg returns the timerd.schedule request for t on subject, for callers that
// send it themselves (pipelined loads, other transports). Schedule uses it.
//
//	msg, err := client.Timer{Subject: "demo.x", In: 5 * time.Second}.Msg("timerd.schedule")
func (t Timer) Msg(subject string) (*nats.Msg, error) {
	kind, err := t.validate()
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(subject)
	for key, values := range t.Headers {
		for _, v := range values {
			msg.Header.Add(key, v)
		}
	}
	h := msg.Header
	h.Set(api.HeaderSubject, t.Subject)
	switch kind {
	case api.KindIn:
		h.Set(api.HeaderIn, t.inText())
	case api.KindAt:
		h.Set(api.HeaderAt, api.FormatTime(t.At))
	case api.KindCron:
		h.Set(api.HeaderCron, t.Cron)
	case api.KindRepeat:
		h.Set(api.HeaderRepeat, t.Repeat)
	}
	setIf(h, api.HeaderID, t.ID)
	setIf(h, api.HeaderTimeZone, t.TimeZone)
	setIf(h, api.HeaderCronDialect, t.CronDialect)
	setIf(h, api.HeaderStart, formatTimeIf(t.Start))
	setIf(h, api.HeaderEnd, formatTimeIf(t.End))
	if t.MaxFires > 0 {
		h.Set(api.HeaderMaxFires, strconv.FormatInt(t.MaxFires, 10))
	}
	setIf(h, api.HeaderMisfire, t.Misfire)
	if t.Jitter > 0 {
		h.Set(api.HeaderJitter, t.Jitter.String())
	}
	if t.Replace {
		h.Set(api.HeaderReplace, "true")
	}
	if t.ExpectedRevision > 0 {
		h.Set(api.HeaderExpectedRevision, strconv.FormatUint(t.ExpectedRevision, 10))
	}
	msg.Data = t.Data
	return msg, nil
}

// BatchItem returns t as an element of a timerd.batch request. The payload
// goes as data when it is valid UTF-8 and as data_b64 otherwise. A batch
// carries one value per kept header and no expected revision, so a Timer
// with either fails here.
func (t Timer) BatchItem() (api.BatchItem, error) {
	kind, err := t.validate()
	if err != nil {
		return api.BatchItem{}, err
	}
	if t.ExpectedRevision > 0 {
		return api.BatchItem{}, badRequest("Timer.ExpectedRevision is %d, but a batch cannot carry an expected revision; use Schedule", t.ExpectedRevision)
	}
	item := api.BatchItem{
		ID:          t.ID,
		Subject:     t.Subject,
		Cron:        t.Cron,
		Repeat:      t.Repeat,
		TimeZone:    t.TimeZone,
		CronDialect: t.CronDialect,
		Start:       formatTimeIf(t.Start),
		End:         formatTimeIf(t.End),
		Misfire:     t.Misfire,
		Replace:     t.Replace,
	}
	switch kind {
	case api.KindIn:
		item.In = t.inText()
	case api.KindAt:
		item.At = api.FormatTime(t.At)
	}
	if t.MaxFires > 0 {
		n := t.MaxFires
		item.MaxFires = &n
	}
	if t.Jitter > 0 {
		item.Jitter = t.Jitter.String()
	}
	if len(t.Headers) > 0 {
		item.Headers = make(map[string]string, len(t.Headers))
		for key, values := range t.Headers {
			switch len(values) {
			case 0:
			case 1:
				item.Headers[key] = values[0]
			default:
				return api.BatchItem{}, badRequest("Timer.Headers has %d values for %q, but a batch carries one value per header", len(values), key)
			}
		}
	}
	if len(t.Data) > 0 {
		if utf8.Valid(t.Data) {
			s := string(t.Data)
			item.Data = &s
		} else {
			s := base64.StdEncoding.EncodeToString(t.Data)
			item.DataB64 = &s
		}
	}
	return item, nil
}

// validate checks what the client can know without the server, and answers
// the timer's kind (api.KindIn, KindAt, KindCron or KindRepeat).
func (t Timer) validate() (string, error) {
	if strings.TrimSpace(t.Subject) == "" {
		return "", badRequest("Timer.Subject is empty: a timer needs the subject its fires are published to")
	}
	var kinds []string
	if t.InSpec != "" || t.In != 0 {
		kinds = append(kinds, api.KindIn)
	}
	if !t.At.IsZero() {
		kinds = append(kinds, api.KindAt)
	}
	if t.Cron != "" {
		kinds = append(kinds, api.KindCron)
	}
	if t.Repeat != "" {
		kinds = append(kinds, api.KindRepeat)
	}
	if len(kinds) > 1 {
		return "", badRequest("Timer sets %s: give exactly one of In (or InSpec), At, Cron and Repeat", strings.Join(kinds, " and "))
	}
	if t.CronDialect != "" && t.Cron == "" {
		return "", badRequest("Timer.CronDialect is %q but Timer.Cron is empty: a dialect says how to read a cron spec", t.CronDialect)
	}
	if t.InSpec == "" && t.In < 0 {
		return "", badRequest("Timer.In is %s: a delay must be 0 or more", t.In)
	}
	if t.Jitter < 0 {
		return "", badRequest("Timer.Jitter is %s: jitter must be 0 or more", t.Jitter)
	}
	if t.MaxFires < 0 {
		return "", badRequest("Timer.MaxFires is %d: give 0 for no limit or a positive count", t.MaxFires)
	}
	if t.ExpectedRevision > 0 && !t.Replace {
		return "", badRequest("Timer.ExpectedRevision is %d but Timer.Replace is false: an expected revision guards a replace", t.ExpectedRevision)
	}
	for key := range t.Headers {
		if err := checkKeptHeader(key); err != nil {
			return "", err
		}
	}
	if len(kinds) == 0 {
		return api.KindIn, nil
	}
	return kinds[0], nil
}

// checkKeptHeader refuses header names timerd reserves or NATS cannot carry.
func checkKeptHeader(key string) error {
	lower := strings.ToLower(key)
	if strings.HasPrefix(lower, "timer-") || strings.HasPrefix(lower, "nats-") {
		return badRequest("Timer.Headers has %q: Timer-* and Nats-* headers belong to timerd and NATS; set the Timer field instead or rename the header", key)
	}
	if key == "" {
		return badRequest("Timer.Headers has an empty header name")
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return badRequest("Timer.Headers has %q: a header name is printable ASCII without spaces or ':'", key)
		}
	}
	return nil
}

func (t Timer) inText() string {
	if t.InSpec != "" {
		return t.InSpec
	}
	return t.In.String()
}

func formatTimeIf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return api.FormatTime(t)
}

func setIf(h nats.Header, key, value string) {
	if value != "" {
		h.Set(key, value)
	}
}
