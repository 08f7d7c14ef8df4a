package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/record"
)

// batchItem is one element of a timerd.batch body: api.BatchItem with the
// payload kept in bytes, presence in flags, and the kept headers in key
// order, each key once.
type batchItem struct {
	id, subject, in, at, cron, repeat, zone, start, end, misfire, jitter, dialect string

	maxFires             int64
	hasMaxFires, replace bool
	hasData, hasDataB64  bool
	data, dataB64        []byte
	headers              []record.Header
}

// looksLikeArray is the first check of a batch body, before it is decoded.
func looksLikeArray(data []byte) bool {
	data = bytes.TrimSpace(data)
	return len(data) > 0 && data[0] == '['
}

// decodeBatch reads a batch body as encoding/json reads it into
// []api.BatchItem with DisallowUnknownFields, and refuses anything but
// JSON white space after the array: a body pasted twice, or a second
// array, is a mistake to name, not half a batch to schedule. The bodies
// batchReader takes, every one encoding/json accepts (FuzzBatchDecode
// checks), cost no reflection and no copy of the body; the others are read
// again by encoding/json, whose error names the unknown field or the
// position at fault. maxItems, the batch limit, only bounds the room
// reserved up front.
func decodeBatch(data []byte, maxItems int) ([]batchItem, error) {
	r := batchReader{data: data}
	if items, ok := r.read(maxItems); ok {
		return items, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var std []api.BatchItem
	if err := dec.Decode(&std); err != nil {
		return nil, err
	}
	if end := int(dec.InputOffset()); trailingData(data[end:]) {
		rest := data[end:]
		return nil, fmt.Errorf("%d bytes after the array, from offset %d (%q); send one array alone (white space after it is fine)",
			len(rest), end, printable(string(rest)))
	}
	// Only if batchReader wrongly refused the body: take it all the same.
	items := make([]batchItem, len(std))
	for i := range std {
		items[i] = itemFromAPI(&std[i])
	}
	return items, nil
}

// trailingData reports whether rest holds anything but JSON white space.
func trailingData(rest []byte) bool {
	return len(bytes.TrimLeft(rest, " \t\r\n")) > 0
}

// itemFromAPI is the batchItem of an element encoding/json decoded.
func itemFromAPI(it *api.BatchItem) batchItem {
	b := batchItem{id: it.ID, subject: it.Subject, in: it.In, at: it.At, cron: it.Cron, repeat: it.Repeat,
		zone: it.TimeZone, start: it.Start, end: it.End, misfire: it.Misfire, jitter: it.Jitter, replace: it.Replace,
		dialect: it.CronDialect}
	if it.MaxFires != nil {
		b.maxFires, b.hasMaxFires = *it.MaxFires, true
	}
	if it.Data != nil {
		b.data, b.hasData = []byte(*it.Data), true
	}
	if it.DataB64 != nil {
		b.dataB64, b.hasDataB64 = []byte(*it.DataB64), true
	}
	for _, k := range slices.Sorted(maps.Keys(it.Headers)) {
		b.headers = append(b.headers, record.Header{Key: k, Value: it.Headers[k]})
	}
	return b
}

// The fields of a batch element, in the order of batchFields; the string
// fields first.
const (
	fieldID = iota
	fieldSubject
	fieldIn
	fieldAt
	fieldCron
	fieldRepeat
	fieldTimeZone
	fieldStart
	fieldEnd
	fieldMisfire
	fieldJitter
	fieldCronDialect
	fieldMaxFires
	fieldReplace
	fieldHeaders
	fieldData
	fieldDataB64
	numFields
)

// batchFields are api.BatchItem's JSON names as fieldOf folds keys.
var batchFields = [numFields]string{"ID", "SUBJECT", "IN", "AT", "CRON", "REPEAT", "TIME_ZONE", "START",
	"END", "MISFIRE", "JITTER", "CRON_DIALECT", "MAX_FIRES", "REPLACE", "HEADERS", "DATA", "DATA_B64"}

// text is the string field f (fieldID to fieldCronDialect) of it.
func (it *batchItem) text(f int) *string {
	return [...]*string{&it.id, &it.subject, &it.in, &it.at, &it.cron, &it.repeat, &it.zone,
		&it.start, &it.end, &it.misfire, &it.jitter, &it.dialect}[f]
}

// batchReader decodes the batch bodies encoding/json accepts and refuses
// all others. Where a hand-written decoder could easily differ, it does
// what encoding/json does: keys match fields case-insensitively (with
// Unicode simple folding); a repeated key overrides, but repeated headers
// objects merge; null leaves a string or boolean as it was and clears the
// others; strings have invalid UTF-8 and lone surrogates replaced by
// U+FFFD. After the array's closing bracket it takes only white space.
type batchReader struct {
	data []byte
	pos  int
	buf  []byte // text of the last string read, when it needed unescaping
	// last are the strings read last for each string field: elements that
	// repeat one (a batch's subjects and delays often do) share it.
	last [fieldCronDialect + 1]string
}

// read decodes the body; false if encoding/json would refuse it.
func (r *batchReader) read(maxItems int) ([]batchItem, bool) {
	if !r.skipSpace() {
		return nil, false
	}
	// Room for an element per '{' (whether or not in a string) up to the
	// limit: a batch beyond it is refused anyway.
	items := make([]batchItem, 0, min(bytes.Count(r.data[r.pos:], []byte{'{'}), maxItems))
	if !r.list('[', ']', func() bool {
		items = append(items, batchItem{})
		return r.element(&items[len(items)-1])
	}) || r.skipSpace() {
		return nil, false
	}
	return items, true
}

// list reads an array or an object: open, then item at each element (or
// key) and , or end after it.
func (r *batchReader) list(open, end byte, item func() bool) bool {
	if r.data[r.pos] != open {
		return false
	}
	r.pos++
	if !r.skipSpace() {
		return false
	}
	if r.data[r.pos] == end {
		r.pos++
		return true
	}
	for {
		if !item() || !r.skipSpace() {
			return false
		}
		switch r.data[r.pos] {
		case end:
			r.pos++
			return true
		case ',':
			r.pos++
			if !r.skipSpace() {
				return false
			}
		default:
			return false
		}
	}
}

// skipSpace moves past JSON white space; false at the end of the body.
func (r *batchReader) skipSpace() bool {
	for ; r.pos < len(r.data); r.pos++ {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
		default:
			return true
		}
	}
	return false
}

// literal moves past word (null, true or false) if it comes next.
func (r *batchReader) literal(word string) bool {
	if len(r.data)-r.pos < len(word) || string(r.data[r.pos:r.pos+len(word)]) != word {
		return false
	}
	r.pos += len(word)
	return true
}

// element reads an array element: an object, or null for a zero element.
func (r *batchReader) element(it *batchItem) bool {
	if r.data[r.pos] == 'n' {
		return r.literal("null")
	}
	if !r.list('{', '}', func() bool { return r.member(it) }) {
		return false
	}
	if len(it.headers) > 1 {
		it.headers = lastOfEachKey(it.headers)
	}
	return true
}

// colon moves past the : after a key and the white space around it.
func (r *batchReader) colon() bool {
	if !r.skipSpace() || r.data[r.pos] != ':' {
		return false
	}
	r.pos++
	return r.skipSpace()
}

// member reads one "key": value of an element.
func (r *batchReader) member(it *batchItem) bool {
	key, ok := r.str()
	if !ok {
		return false
	}
	field := fieldOf(key)
	if field < 0 || !r.colon() {
		return false
	}
	switch field {
	case fieldMaxFires:
		return r.maxFires(it)
	case fieldReplace:
		return r.boolean(&it.replace)
	case fieldHeaders:
		return r.headers(it)
	case fieldData:
		return r.payload(&it.data, &it.hasData)
	case fieldDataB64:
		return r.payload(&it.dataB64, &it.hasDataB64)
	}
	if r.data[r.pos] == 'n' {
		return r.literal("null")
	}
	s, ok := r.str()
	if !ok {
		return false
	}
	if string(s) != r.last[field] {
		r.last[field] = string(s)
	}
	*it.text(field) = r.last[field]
	return true
}

// maxFires reads an int64 or null. JSON numbers with a fraction or an
// exponent, and integers out of range, are refused, as encoding/json
// refuses to store them in an int64.
func (r *batchReader) maxFires(it *batchItem) bool {
	if r.data[r.pos] == 'n' {
		it.maxFires, it.hasMaxFires = 0, false
		return r.literal("null")
	}
	start := r.pos
	if r.data[r.pos] == '-' {
		r.pos++
	}
	digits := r.pos
	for r.pos < len(r.data) && '0' <= r.data[r.pos] && r.data[r.pos] <= '9' {
		r.pos++
	}
	if n := r.pos - digits; n == 0 || n > 1 && r.data[digits] == '0' {
		return false // not JSON
	}
	if r.pos < len(r.data) && (r.data[r.pos] == '.' || r.data[r.pos] == 'e' || r.data[r.pos] == 'E') {
		return false
	}
	v, err := strconv.ParseInt(string(r.data[start:r.pos]), 10, 64)
	if err != nil {
		return false
	}
	it.maxFires, it.hasMaxFires = v, true
	return true
}

// boolean reads true, false, or null, which leaves *b as it was.
func (r *batchReader) boolean(b *bool) bool {
	switch r.data[r.pos] {
	case 't':
		*b = true
		return r.literal("true")
	case 'f':
		*b = false
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	return false
}

// payload reads data or data_b64: a string, or null for none.
func (r *batchReader) payload(p *[]byte, given *bool) bool {
	if r.data[r.pos] == 'n' {
		*p, *given = nil, false
		return r.literal("null")
	}
	s, ok := r.str()
	if !ok {
		return false
	}
	*p, *given = bytes.Clone(s), true
	return true
}

// headers reads the headers object into it.headers, after those of an
// earlier headers key; null drops them, and a null value is empty.
func (r *batchReader) headers(it *batchItem) bool {
	if r.data[r.pos] == 'n' {
		it.headers = nil
		return r.literal("null")
	}
	return r.list('{', '}', func() bool {
		key, ok := r.str()
		if !ok {
			return false
		}
		h := record.Header{Key: string(key)}
		if !r.colon() {
			return false
		}
		if r.data[r.pos] == 'n' {
			if !r.literal("null") {
				return false
			}
		} else {
			v, ok := r.str()
			if !ok {
				return false
			}
			h.Value = string(v)
		}
		it.headers = append(it.headers, h)
		return true
	})
}

// lastOfEachKey sorts headers by key and keeps the last value given for
// each key, as a map filled in their order would.
func lastOfEachKey(hs []record.Header) []record.Header {
	slices.SortStableFunc(hs, func(a, b record.Header) int { return strings.Compare(a.Key, b.Key) })
	kept := hs[:0]
	for i, h := range hs {
		if i+1 == len(hs) || hs[i+1].Key != h.Key {
			kept = append(kept, h)
		}
	}
	return kept
}
