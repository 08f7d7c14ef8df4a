package client

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
)

func TestReplyError(t *testing.T) {
	tests := []struct {
		name   string
		header nats.Header
		body   string
		want   *Error // nil: a success
	}{
		{
			name:   "micro headers",
			header: nats.Header{api.HeaderErrorCode: {"404"}, api.HeaderError: {"no timer order-1"}},
			body:   `{"error":"no timer order-1","code":404}`,
			want:   &Error{Code: 404, Message: "no timer order-1"},
		},
		{
			name:   "headers win over the body",
			header: nats.Header{api.HeaderErrorCode: {"409"}, api.HeaderError: {"revision is 3, not 2"}},
			body:   `{"error":"other","code":400}`,
			want:   &Error{Code: 409, Message: "revision is 3, not 2"},
		},
		{
			name:   "code header without sentence takes the body's",
			header: nats.Header{api.HeaderErrorCode: {"400"}},
			body:   `{"error":"Timer-In \"x\" is not a duration","code":400}`,
			want:   &Error{Code: 400, Message: `Timer-In "x" is not a duration`},
		},
		{
			name:   "code header alone",
			header: nats.Header{api.HeaderErrorCode: {"503"}},
			want:   &Error{Code: 503, Message: "request failed"},
		},
		{
			name:   "unreadable code",
			header: nats.Header{api.HeaderErrorCode: {"teapot"}},
			want:   &Error{Code: 500, Message: `bad Nats-Service-Error-Code "teapot"`},
		},
		{
			name: "body only",
			body: `{"error":"over the limit","code":429}`,
			want: &Error{Code: 429, Message: "over the limit"},
		},
		{
			name: "body error without code",
			body: `{"error":"boom"}`,
			want: &Error{Code: 500, Message: "boom"},
		},
		{name: "schedule reply", body: `{"id":"a","next":"2030-01-01T00:00:00Z","revision":1,"created":true}`},
		{name: "batch reply with a failed element", body: `[{"error":"bad","code":400}]`},
		{name: "timer", body: `{"id":"a","subject":"x","kind":"in","fires":0}`},
		{name: "empty", body: ``},
		{name: "not json", body: `{oops`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replyError(&nats.Msg{Header: tt.header, Data: []byte(tt.body)})
			switch {
			case tt.want == nil && got != nil:
				t.Errorf("got %v, want success", got)
			case tt.want != nil && (got == nil || *got != *tt.want):
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	notFound := fmt.Errorf("cancel: %w", &Error{Code: api.CodeNotFound, Message: "no timer a"})
	conflict := &Error{Code: api.CodeConflict, Message: "revision is 3, not 2"}
	if !IsNotFound(notFound) || IsConflict(notFound) {
		t.Error("wrapped 404 misclassified")
	}
	if !IsConflict(conflict) || IsNotFound(conflict) {
		t.Error("409 misclassified")
	}
	if IsNotFound(errors.New("timerd: no timer a")) || IsNotFound(nil) {
		t.Error("plain errors are not 404s")
	}
	if got, want := conflict.Error(), "timerd: revision is 3, not 2 (code 409)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestNoServiceError(t *testing.T) {
	err := error(&noServiceError{subject: "timerd.get"})
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Error("does not match nats.ErrNoResponders")
	}
	if got, want := err.Error(), "timerd: no timerd is serving timerd.get on this NATS"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
