package service

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/jetstream"
	"github.com/timerd/timerd/internal/record"
)

// limits are the server's request limits: what a request may ask for so
// that the fire it makes can always be published. Each is checked before
// anything is stored, since a timer that can never fire breaks the promise
// of the 200 that stored it.
type limits struct {
	prefix     string
	maxPayload int // --max-payload: the body alone
	// serverMax is the NATS server's max payload, which the whole fire
	// (headers and body, FireSize) must fit.
	serverMax int
	allow     []string
}

// checkFire refuses a payload over --max-payload, then a fire that would not
// fit the server's max payload; either may be the smaller.
func (l *limits) checkFire(id, subject, spec string, headers []record.Header, payload []byte) *api.Error {
	if len(payload) > l.maxPayload {
		return tooLarge("payload is %d bytes; the limit is %d (--max-payload)", len(payload), l.maxPayload)
	}
	if size := api.FireSize(id, len(headers), keptBytes(headers), len(payload)); size > l.serverMax {
		return tooLarge("the fire would be %d bytes (payload %d, the rest its kept headers and timerd's %s, %s, %s and %s); "+
			"the NATS server's max payload is %d: send a smaller payload or fewer headers",
			size, len(payload), api.HeaderID, api.HeaderDue, api.HeaderFire, api.HeaderMsgID, l.serverMax)
	}
	// The timer is stored first, as one record with the store's fencing
	// headers, and that must fit the server's max payload too.
	op := record.Op{Kind: record.OpPut, Timer: &record.Timer{ID: id, Subject: subject, Spec: spec, Headers: headers, Payload: payload}}
	if size := record.Size(op) + storeOverhead + len(l.prefix); size > l.serverMax {
		return tooLarge("the timer would be stored as a record of up to %d bytes (payload %d); "+
			"the NATS server's max payload is %d: send a smaller payload or fewer headers", size, len(payload), l.serverMax)
	}
	return nil
}

// storeOverhead bounds what the store adds to a record besides the bucket
// name: the record's framing and its two fencing headers.
const storeOverhead = 4 + 160

func tooLarge(format string, args ...any) *api.Error {
	return &api.Error{Code: api.CodeTooLarge, Msg: fmt.Sprintf(format, args...)}
}

// checkKept bounds the headers copied onto every fire (what names them in
// messages: "kept headers" of a request, "headers" of a batch element):
// their number and bytes first (413), so that 10,000 headers cost one
// pass, then names a NATS client can publish and, since names are
// case-insensitive, each name once in any spelling (400).
func checkKept(what string, hs []record.Header) *api.Error {
	if len(hs) > api.MaxKeptHeaders {
		return tooLarge("%s: %d sent; at most %d are copied onto a fire", what, len(hs), api.MaxKeptHeaders)
	}
	if size := keptBytes(hs); size > api.MaxKeptHeaderBytes {
		return tooLarge("%s are %d bytes (names and values); at most %d in all are copied onto a fire", what, size, api.MaxKeptHeaderBytes)
	}
	for i, h := range hs {
		if !validHeaderKey(h.Key) {
			return badf("%s: %q is not a header name a NATS client can publish; want printable ASCII without spaces or any of %s",
				what, printable(h.Key), headerKeyForbidden)
		}
		if strings.ContainsAny(h.Value, "\r\n") {
			return badf("%s: the value of %s has a line break; want a value on one line", what, h.Key)
		}
		for _, earlier := range hs[:i] {
			if strings.EqualFold(earlier.Key, h.Key) {
				return sentTwice(earlier.Key, earlier.Key, h.Key)
			}
		}
	}
	return nil
}

// keptBytes is the bytes of the names and values of hs, as
// api.MaxKeptHeaderBytes and api.FireSize count them.
func keptBytes(hs []record.Header) int {
	size := 0
	for _, h := range hs {
		size += len(h.Key) + len(h.Value)
	}
	return size
}

// headerKeyForbidden are the printable ASCII bytes nats.go refuses in a
// header name (RFC 7230 separators); a kept header named with one would
// make a timer whose fires can never be published.
const headerKeyForbidden = `"(),/:;<=>?@[\]{}`

func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c > '~' || strings.IndexByte(headerKeyForbidden, c) >= 0 {
			return false
		}
	}
	return true
}

// sentTwice is the 400 of a header sent under two spellings of its name.
func sentTwice(name, first, second string) *api.Error {
	return badf("header %s was sent twice, as %q and %q; header names are case-insensitive: send it once", name, first, second)
}

// sentTimes is the 400 of a header sent with several values.
func sentTimes(name string, times int) *api.Error {
	return badf("header %s was sent %d times; send it once", name, times)
}

// checkSubject validates a fire subject: a literal NATS subject of at most
// api.MaxSubjectLen bytes and api.MaxSubjectTokens tokens of printable
// ASCII, outside the reserved spaces and inside the allow-list. The length
// keeps the fire's protocol line far below the server's control line limit
// (4 KiB), beyond which the server drops the publishing connection.
func (l *limits) checkSubject(header, s string, tenant bool) *api.Error {
	const want = "want a literal NATS subject like orders.timeout"
	if s == "" {
		return badf("%s is required: the subject the fire is published to", header)
	}
	if len(s) > api.MaxSubjectLen {
		return badf("%s %q is %d bytes; at most %d are allowed", header, printable(s), len(s), api.MaxSubjectLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return badf("%s %q has %s at position %d; a subject is printable ASCII without spaces or control bytes: %s",
				header, printable(s), describeByte(s, i), i, want)
		}
	}
	if n := strings.Count(s, ".") + 1; n > api.MaxSubjectTokens {
		return badf("%s %q has %d tokens; at most %d are allowed", header, printable(s), n, api.MaxSubjectTokens)
	}
	for tok := range strings.SplitSeq(s, ".") {
		switch tok {
		case "":
			return badf("%s %q has an empty token; %s", header, printable(s), want)
		case "*", ">":
			return badf("%s %q has the wildcard %q; a fire needs a literal subject", header, printable(s), tok)
		}
	}
	forbidden := func(why string) *api.Error {
		return &api.Error{Code: api.CodeForbidden, Msg: fmt.Sprintf("%s %q is not allowed: %s", header, printable(s), why)}
	}
	switch {
	case strings.HasPrefix(s, "$"):
		return forbidden("subjects starting with $ are reserved for NATS")
	case s == "_INBOX" || strings.HasPrefix(s, "_INBOX."):
		return forbidden("_INBOX subjects are reserved for replies")
	case s == l.prefix || strings.HasPrefix(s, l.prefix) && s[len(l.prefix)] == '.':
		return forbidden(fmt.Sprintf("subjects under %s. are timerd's own API", l.prefix))
	}
	if tenant {
		return nil // a tenant's subjects are its own: --rules decides (Service.admit)
	}
	for _, filter := range l.allow {
		if jetstream.SubjectMatches(filter, s) {
			return nil
		}
	}
	return forbidden(fmt.Sprintf("it is outside the allow-list (--allow-subjects %s)", strings.Join(l.allow, ",")))
}

// describeByte names the byte of s at i for a message: a space, a rune
// such as U+2028 when a valid UTF-8 sequence starts there, else its value.
func describeByte(s string, i int) string {
	c := s[i]
	switch {
	case c == ' ':
		return "a space"
	case c >= utf8.RuneSelf:
		if r, size := utf8.DecodeRuneInString(s[i:]); size > 1 {
			return fmt.Sprintf("%U", r)
		}
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
