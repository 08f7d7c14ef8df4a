package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
)

// Error is a request timerd refused, or one the client refused to send for
// the same reason timerd would have (code api.CodeBadRequest).
type Error struct {
	Code    int    // HTTP-like code, one of the api.Code* constants
	Message string // the server's sentence, naming the header and value at fault
}

// Error formats the error as the timerd CLI prints it:
// "timerd: <message> (code N)".
func (e *Error) Error() string {
	return fmt.Sprintf("timerd: %s (code %d)", e.Message, e.Code)
}

// IsNotFound reports whether err is a timerd 404: no such timer, or a
// one-shot timer that has already fired.
func IsNotFound(err error) bool { return hasCode(err, api.CodeNotFound) }

// IsConflict reports whether err is a timerd 409: the id exists with a
// different request, or an expected revision did not match.
func IsConflict(err error) bool { return hasCode(err, api.CodeConflict) }

func hasCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// badRequest is a client-side validation failure.
func badRequest(format string, args ...any) *Error {
	return &Error{Code: api.CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// replyError returns the error a reply carries, or nil when it is a success.
// The micro error headers are authoritative; the JSON body {"error","code"}
// is the fallback for a responder that sets only the body.
func replyError(msg *nats.Msg) *Error {
	if code := strings.TrimSpace(msg.Header.Get(api.HeaderErrorCode)); code != "" {
		e := &Error{Code: api.CodeInternal, Message: strings.TrimSpace(msg.Header.Get(api.HeaderError))}
		if n, err := strconv.Atoi(code); err == nil {
			e.Code = n
		} else if e.Message == "" {
			e.Message = "bad " + api.HeaderErrorCode + " " + strconv.Quote(code)
		}
		if body := bodyError(msg.Data); body != nil && e.Message == "" {
			e.Message = body.Message
		}
		if e.Message == "" {
			e.Message = "request failed"
		}
		return e
	}
	return bodyError(msg.Data)
}

// bodyError decodes {"error": "...", "code": N}; it returns nil for any other
// body, including success replies, which never carry an "error" field.
func bodyError(data []byte) *Error {
	// Only an object with an "error" key can be one; skip decoding the
	// (often large) success replies.
	trimmed := bytes.TrimSpace(data)
	if !bytes.HasPrefix(trimmed, []byte("{")) || !bytes.Contains(trimmed, []byte(`"error"`)) {
		return nil
	}
	if bytes.HasPrefix(trimmed, []byte("[")) {
		return nil
	}
	var reply api.ErrorReply
	if json.Unmarshal(data, &reply) != nil || (reply.Error == "" && reply.Code == 0) {
		return nil
	}
	e := &Error{Code: reply.Code, Message: reply.Error}
	if e.Code == 0 {
		e.Code = api.CodeInternal
	}
	if e.Message == "" {
		e.Message = "request failed"
	}
	return e
}

// noServiceError is returned when nothing listens on an API subject. It
// matches nats.ErrNoResponders with errors.Is.
type noServiceError struct{ subject string }

func (e *noServiceError) Error() string {
	return "timerd: no timerd is serving " + e.subject + " on this NATS"
}

func (e *noServiceError) Unwrap() error { return nats.ErrNoResponders }
