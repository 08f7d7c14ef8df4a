package service

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The strings of a batch body, for batchReader: reading and unescaping them
// as encoding/json does, and matching keys to fields as it folds them.

// str reads a string. Its text is the body's bytes when it has no escapes
// and only ASCII, else r.buf; either is valid until the next call.
func (r *batchReader) str() ([]byte, bool) {
	if r.data[r.pos] != '"' {
		return nil, false
	}
	start := r.pos + 1
	for i := start; i < len(r.data); i++ {
		switch c := r.data[i]; {
		case c == '"':
			r.pos = i + 1
			return r.data[start:i], true
		case c == '\\' || c < ' ' || c >= utf8.RuneSelf:
			return r.unquote(start, i)
		}
	}
	return nil, false
}

// unquote reads the rest of a string from its first byte at i that is not
// plain ASCII, unescaping as encoding/json does.
func (r *batchReader) unquote(start, i int) ([]byte, bool) {
	b := append(r.buf[:0], r.data[start:i]...)
	for i < len(r.data) {
		switch c := r.data[i]; {
		case c == '"':
			r.pos, r.buf = i+1, b
			return b, true
		case c < ' ' || c == '\\' && i+1 == len(r.data):
			return nil, false
		case c == '\\':
			i += 2
			switch e := r.data[i-1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				u := hex4(r.data[i-2:])
				if u < 0 {
					return nil, false
				}
				i += 4
				if utf16.IsSurrogate(u) {
					// A surrogate takes the escape after it when the two
					// make a pair; alone, it is U+FFFD.
					if pair := utf16.DecodeRune(u, hex4(r.data[i:])); pair != unicode.ReplacementChar {
						u = pair
						i += 6
					} else {
						u = unicode.ReplacementChar
					}
				}
				b = utf8.AppendRune(b, u)
			default:
				return nil, false
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			// U+FFFD for each byte that does not start valid UTF-8.
			u, size := utf8.DecodeRune(r.data[i:])
			b = utf8.AppendRune(b, u)
			i += size
		}
	}
	return nil, false
}

// hex4 is the code unit of the \uXXXX escape s starts with, or -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	a, b, c, d := hexDigit[s[2]], hexDigit[s[3]], hexDigit[s[4]], hexDigit[s[5]]
	if a|b|c|d < 0 {
		return -1
	}
	return rune(a)<<12 | rune(b)<<8 | rune(c)<<4 | rune(d)
}

// hexDigit is the value of each hexadecimal digit, -1 for other bytes.
var hexDigit = func() (t [256]int8) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = int8(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = int8(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			t[c] = int8(c - 'A' + 10)
		default:
			t[c] = -1
		}
	}
	return t
}()

// fieldOf is the field key names, or -1. Like encoding/json, it compares
// keys and names folded: ASCII letters upper-cased, any other rune
// replaced by the smallest rune of its case-folding orbit (so "ſubject",
// with a long s, names subject).
func fieldOf(key []byte) int {
	var folded [len("TIME_ZONE")]byte // as long as the longest name
	n := 0
	for i := 0; i < len(key); n++ {
		c := key[i]
		if c >= utf8.RuneSelf {
			u, size := utf8.DecodeRune(key[i:])
			if u = foldRune(u); u >= utf8.RuneSelf {
				return -1
			}
			c, i = byte(u), i+size
		} else {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			i++
		}
		if n == len(folded) {
			return -1
		}
		folded[n] = c
	}
	for f, name := range batchFields {
		if string(folded[:n]) == name {
			return f
		}
	}
	return -1
}

// foldRune is encoding/json's: the smallest rune of r's folding orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
