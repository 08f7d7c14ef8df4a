package api

import (
	"strconv"
	"unicode/utf8"
)

// The replies a node writes most (one per timer scheduled) are encoded by
// hand: byte for byte what encoding/json writes (appendjson_test.go checks
// it), without reflection, and without encoding/json compacting the output
// of every element's MarshalJSON again.

// AppendJSON appends r as encoding/json would marshal it.
func (r ScheduleReply) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, r.ID)
	if r.Next != "" {
		b = append(b, `,"next":`...)
		b = AppendJSONString(b, r.Next)
	}
	b = append(b, `,"revision":`...)
	b = strconv.AppendUint(b, r.Revision, 10)
	b = append(b, `,"created":`...)
	b = strconv.AppendBool(b, r.Created)
	return append(b, '}')
}

// AppendJSON appends r as its MarshalJSON writes it.
func (r BatchResult) AppendJSON(b []byte) []byte {
	if r.Error == "" && r.Code == 0 {
		return r.ScheduleReply.AppendJSON(b)
	}
	b = append(b, '{')
	if r.ID != "" {
		b = append(b, `"id":`...)
		b = AppendJSONString(b, r.ID)
		b = append(b, ',')
	}
	b = append(b, `"error":`...)
	b = AppendJSONString(b, r.Error)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(r.Code), 10)
	return append(b, '}')
}

// AppendBatchResults appends rs as encoding/json would marshal the slice
// (null when nil).
func AppendBatchResults(b []byte, rs []BatchResult) []byte {
	if rs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.AppendJSON(b)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping
// (its default): <, > and & as \u003c..., control characters escaped,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
