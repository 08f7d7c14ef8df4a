package main

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCliParseInterleaved(t *testing.T) {
	tests := []struct {
		args       []string
		positional []string
		server     string
		json       bool
		data       string
	}{
		{args: []string{"order-1"}, positional: []string{"order-1"}},
		{args: []string{"order-1", "--json", "-s", "nats://a:1"}, positional: []string{"order-1"}, server: "nats://a:1", json: true},
		{args: []string{"--server", "nats://b:2", "order-1"}, positional: []string{"order-1"}, server: "nats://b:2"},
		{args: []string{"-server=nats://c:3", "a", "--json", "b"}, positional: []string{"a", "b"}, server: "nats://c:3", json: true},
		{args: []string{"a", "--", "--json", "-x"}, positional: []string{"a", "--json", "-x"}},
		{args: []string{"--data", "--", "a"}, positional: []string{"a"}, data: "--"},
		{args: []string{"-"}, positional: []string{"-"}},
		{args: nil, positional: nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var server, data string
			var asJSON bool
			fs.StringVar(&server, "s", "", "")
			fs.StringVar(&server, "server", "", "")
			fs.StringVar(&data, "data", "", "")
			fs.BoolVar(&asJSON, "json", false, "")
			positional, err := cliParseInterleaved(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(positional, tt.positional) || server != tt.server || asJSON != tt.json || data != tt.data {
				t.Errorf("positional %q server %q json %v data %q", positional, server, asJSON, data)
			}
		})
	}
}

func TestCliParseInterleavedErrors(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Bool("json", false, "")
	if _, err := cliParseInterleaved(fs, []string{"a", "--nope"}); err == nil || !strings.Contains(err.Error(), "-nope") {
		t.Errorf("unknown flag after a positional: err = %v", err)
	}
	if _, err := cliParseInterleaved(fs, []string{"a", "-h"}); err != flag.ErrHelp {
		t.Errorf("-h after a positional: err = %v", err)
	}
}

func TestCliHeaders(t *testing.T) {
	h := cliHeaders{}
	for _, s := range []string{"X-Tenant=acme", "X-List=a=b", "X-List= c", " X-Empty ="} {
		if err := h.Set(s); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	}
	want := cliHeaders{"X-Tenant": {"acme"}, "X-List": {"a=b", " c"}, "X-Empty": {""}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers %q, want %q", h, want)
	}
	for _, bad := range []string{"novalue", "=v", "Timer-Id=x", "nats-msg-id=x", "a b=c", "a:b=c"} {
		if err := h.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCliTime(t *testing.T) {
	var v cliTime
	if err := v.Set("2027-01-02T03:04:05.250+01:00"); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2027, 1, 2, 2, 4, 5, 250_000_000, time.UTC); !v.set || !v.t.Equal(want) {
		t.Errorf("time %v, want %v", v.t, want)
	}
	for _, bad := range []string{"2027-01-02", "tomorrow", "2027-01-02 03:04:05Z"} {
		if err := (&cliTime{}).Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
