package client

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
)

func TestTimerMsgHeaders(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name  string
		timer Timer
		want  map[string]string // every header the request must carry, and no other
	}{
		{
			name:  "in as Go duration",
			timer: Timer{Subject: "demo.x", In: 1500 * time.Millisecond},
			want:  map[string]string{"Timer-Subject": "demo.x", "Timer-In": "1.5s"},
		},
		{
			name:  "zero timer fires at once",
			timer: Timer{Subject: "demo.x"},
			want:  map[string]string{"Timer-Subject": "demo.x", "Timer-In": "0s"},
		},
		{
			name:  "in spec is sent verbatim and wins over In",
			timer: Timer{Subject: "demo.x", In: time.Hour, InSpec: "P1DT2H"},
			want:  map[string]string{"Timer-Subject": "demo.x", "Timer-In": "P1DT2H"},
		},
		{
			name:  "at in UTC with nanoseconds",
			timer: Timer{ID: "order-1", Subject: "orders.expire", At: time.Date(2027, 1, 2, 3, 4, 5, 250_000_000, paris)},
			want:  map[string]string{"Timer-Subject": "orders.expire", "Timer-Id": "order-1", "Timer-At": "2027-01-02T02:04:05.25Z"},
		},
		{
			name: "cron with every option",
			timer: Timer{
				ID: "report", Subject: "reports.run", Cron: "0 6 * * *", TimeZone: "Europe/Paris",
				Start: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2031, 1, 1, 0, 0, 0, 1, paris),
				MaxFires: 10, Misfire: api.MisfireAll, Jitter: 90 * time.Second,
				Replace: true, ExpectedRevision: 7,
			},
			want: map[string]string{
				"Timer-Subject": "reports.run", "Timer-Id": "report", "Timer-Cron": "0 6 * * *",
				"Timer-Time-Zone": "Europe/Paris", "Timer-Start": "2030-01-01T00:00:00Z",
				"Timer-End": "2030-12-31T23:00:00.000000001Z", "Timer-Max-Fires": "10", "Timer-Misfire": "all",
				"Timer-Jitter": "1m30s", "Timer-Replace": "true", "Timer-Expected-Revision": "7",
			},
		},
		{
			name:  "repeat",
			timer: Timer{Subject: "demo.x", Repeat: "R3/2030-01-01T00:00:00Z/PT1H"},
			want:  map[string]string{"Timer-Subject": "demo.x", "Timer-Repeat": "R3/2030-01-01T00:00:00Z/PT1H"},
		},
		{
			name:  "kept headers are copied",
			timer: Timer{Subject: "demo.x", In: time.Second, Headers: nats.Header{"X-Tenant": {"acme"}, "traceparent": {"00-ab"}}},
			want:  map[string]string{"Timer-Subject": "demo.x", "Timer-In": "1s", "X-Tenant": "acme", "traceparent": "00-ab"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := tt.timer.Msg("timerd.schedule")
			if err != nil {
				t.Fatal(err)
			}
			if msg.Subject != "timerd.schedule" {
				t.Errorf("subject %q", msg.Subject)
			}
			if len(msg.Header) != len(tt.want) {
				t.Errorf("headers %v, want %v", msg.Header, tt.want)
			}
			for k, v := range tt.want {
				if got := msg.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestTimerMsgKeepsPayloadAndMultiValueHeaders(t *testing.T) {
	msg, err := Timer{Subject: "demo.x", Headers: nats.Header{"X-A": {"1", "2"}}, Data: []byte("hello")}.Msg("s")
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "hello" {
		t.Errorf("data %q", msg.Data)
	}
	if got := msg.Header.Values("X-A"); strings.Join(got, ",") != "1,2" {
		t.Errorf("X-A = %q", got)
	}
}

func TestTimerValidation(t *testing.T) {
	tests := []struct {
		name  string
		timer Timer
		want  string // in the message
	}{
		{"no subject", Timer{In: time.Second}, "Timer.Subject is empty"},
		{"blank subject", Timer{Subject: "  ", In: time.Second}, "Timer.Subject is empty"},
		{"in and at", Timer{Subject: "x", In: time.Second, At: time.Unix(1, 0)}, "Timer sets in and at"},
		{"spec and cron", Timer{Subject: "x", InSpec: "PT1S", Cron: "@daily"}, "Timer sets in and cron"},
		{"cron and repeat", Timer{Subject: "x", Cron: "@daily", Repeat: "R/P1D/2030-01-01T00:00:00Z"}, "Timer sets cron and repeat"},
		{"negative in", Timer{Subject: "x", In: -time.Second}, "Timer.In is -1s"},
		{"negative jitter", Timer{Subject: "x", Jitter: -time.Second}, "Timer.Jitter is -1s"},
		{"negative max fires", Timer{Subject: "x", Cron: "@daily", MaxFires: -1}, "Timer.MaxFires is -1"},
		{"expected revision without replace", Timer{Subject: "x", ExpectedRevision: 3}, "Timer.Replace is false"},
		{"timer header", Timer{Subject: "x", Headers: nats.Header{"Timer-Due": {"x"}}}, `"Timer-Due"`},
		{"nats header any case", Timer{Subject: "x", Headers: nats.Header{"nats-msg-id": {"x"}}}, `"nats-msg-id"`},
		{"empty header name", Timer{Subject: "x", Headers: nats.Header{"": {"x"}}}, "empty header name"},
		{"header name with colon", Timer{Subject: "x", Headers: nats.Header{"a:b": {"x"}}}, `"a:b"`},
		{"header name with space", Timer{Subject: "x", Headers: nats.Header{"a b": {"x"}}}, `"a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for form, err := range map[string]error{"msg": msgErr(tt.timer), "batch": batchErr(tt.timer)} {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: err = %v, want *Error", form, err)
				}
				if e.Code != api.CodeBadRequest || !strings.Contains(e.Message, tt.want) {
					t.Errorf("%s: err = %v, want code 400 with %q", form, err, tt.want)
				}
			}
		})
	}
}

func msgErr(t Timer) error {
	_, err := t.Msg("s")
	return err
}

func batchErr(t Timer) error {
	_, err := t.BatchItem()
	return err
}

func TestTimerBatchItem(t *testing.T) {
	item, err := Timer{
		ID: "a", Subject: "demo.x", InSpec: "PT30S", MaxFires: 3, Jitter: time.Second,
		Start: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Replace: true,
		Headers: nats.Header{"X-A": {"1"}, "X-Empty": {}}, Data: []byte("héllo"),
	}.BatchItem()
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(item)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"a","subject":"demo.x","in":"PT30S","start":"2030-01-01T00:00:00Z","max_fires":3,"jitter":"1s","replace":true,"headers":{"X-A":"1"},"data":"héllo"}`
	if string(got) != want {
		t.Errorf("item\n got %s\nwant %s", got, want)
	}

	item, err = Timer{Subject: "demo.x", At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Data: []byte{0xff, 0x00}}.BatchItem()
	if err != nil {
		t.Fatal(err)
	}
	if item.At != "2030-01-01T00:00:00Z" || item.In != "" || item.Data != nil || item.DataB64 == nil || *item.DataB64 != "/wA=" {
		t.Errorf("binary at item = %+v", item)
	}

	item, err = Timer{Subject: "demo.x"}.BatchItem()
	if err != nil || item.In != "0s" || item.Data != nil || item.DataB64 != nil {
		t.Errorf("zero timer item = %+v, %v", item, err)
	}
}

func TestTimerBatchItemRefusesWhatABatchCannotCarry(t *testing.T) {
	for name, timer := range map[string]Timer{
		"expected revision": {Subject: "x", Replace: true, ExpectedRevision: 3},
		"two header values": {Subject: "x", Headers: nats.Header{"X-A": {"1", "2"}}},
	} {
		_, err := timer.BatchItem()
		var e *Error
		if !errors.As(err, &e) || e.Code != api.CodeBadRequest {
			t.Errorf("%s: err = %v, want a 400 *Error", name, err)
		}
	}
}

func TestTimerCronDialect(t *testing.T) {
	timer := Timer{Subject: "reports.run", Cron: "0 0 9 ? * 6#3", CronDialect: "quartz"}
	msg, err := timer.Msg("timerd.schedule")
	if err != nil || msg.Header.Get(api.HeaderCronDialect) != "quartz" {
		t.Errorf("msg %v, %v: want Timer-Cron-Dialect quartz", msg, err)
	}
	item, err := timer.BatchItem()
	if err != nil || item.CronDialect != "quartz" {
		t.Errorf("batch item %+v, %v: want cron_dialect quartz", item, err)
	}
	_, err = Timer{Subject: "x", In: time.Second, CronDialect: "quartz"}.Msg("timerd.schedule")
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "Timer.CronDialect") {
		t.Errorf("dialect without cron: %v, want a 400 naming Timer.CronDialect", err)
	}
}
