package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/timerd/timerd/api"
)

// cliBatchInput reads the timers of `timerd batch` one at a time, from a
// JSON array or from NDJSON (one JSON object a line, as log pipelines and
// `jq -c` write them), so a file of millions of timers is never held
// whole: memory stays at a few chunks whatever the input's size.
type cliBatchInput struct {
	dec    *json.Decoder
	array  bool  // the input is one JSON array, not NDJSON
	ended  bool  // the last timer has been read
	count  int   // timers read so far
	size   int64 // bytes in the input; -1 when unknown (a pipe)
	closer io.Closer
	held   *api.BatchItem // read but left for the next chunk (pushBack)
}

// cliOpenBatch opens a batch input: the file path, or stdin for "-".
// Where the input is a regular file (stdin redirected from one included)
// its size is known, and progress can tell how much is left.
func (r *cliRun) openBatch(path string) (*cliBatchInput, error) {
	var src io.Reader = r.stdin
	var closer io.Closer
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		src, closer = f, f
	}
	size := int64(-1)
	if f, ok := src.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	in, err := cliNewBatchInput(src, size)
	if err != nil && closer != nil {
		_ = closer.Close()
	}
	if in != nil {
		in.closer = closer
	}
	return in, err
}

// cliNewBatchInput decides the input's form from its first byte that is not
// white space: [ starts a JSON array, { the first NDJSON object.
func cliNewBatchInput(src io.Reader, size int64) (*cliBatchInput, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	first, err := cliFirstByte(br)
	if errors.Is(err, io.EOF) {
		return nil, errors.New("no timers: the input is empty")
	}
	if err != nil {
		return nil, err
	}
	in := &cliBatchInput{dec: json.NewDecoder(br), size: size}
	// A misspelt field ("subjet") is an error, not a timer without it.
	in.dec.DisallowUnknownFields()
	switch first {
	case '[':
		in.array = true
		if _, err := in.dec.Token(); err != nil {
			return nil, err
		}
	case '{':
	default:
		return nil, fmt.Errorf("want a JSON array of timers or NDJSON (one JSON object a line); the input starts with %q", first)
	}
	return in, nil
}

func cliFirstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !bytes.ContainsRune([]byte(" \t\r\n"), rune(b)) {
			return b, br.UnreadByte()
		}
	}
}

// next reads one timer; ok is false after the last one. An error names
// the timer by its index, as the results do.
func (in *cliBatchInput) next() (item api.BatchItem, ok bool, err error) {
	if in.held != nil {
		item, in.held = *in.held, nil
		in.count++
		return item, true, nil
	}
	if in.ended {
		return item, false, nil
	}
	if in.array && !in.dec.More() {
		in.ended = true
		if _, err := in.dec.Token(); err != nil { // the closing ]
			return item, false, fmt.Errorf("after timer %d: %w", in.count-1, err)
		}
		if _, err := in.dec.Token(); !errors.Is(err, io.EOF) {
			return item, false, errors.New("want one JSON array, found more after it")
		}
		return item, false, in.checkSome()
	}
	if err := in.dec.Decode(&item); err != nil {
		if !in.array && errors.Is(err, io.EOF) {
			in.ended = true
			return item, false, in.checkSome()
		}
		in.ended = true
		if !in.array && errors.Is(err, io.ErrUnexpectedEOF) {
			return item, false, fmt.Errorf("timer %d: the input ends inside it", in.count)
		}
		return item, false, fmt.Errorf("timer %d: %w", in.count, err)
	}
	in.count++
	return item, true, nil
}

func (in *cliBatchInput) checkSome() error {
	if in.count == 0 {
		return errors.New("no timers in the array")
	}
	return nil
}

// offset is how many bytes of the input have been read into timers.
func (in *cliBatchInput) offset() int64 { return in.dec.InputOffset() }

func (in *cliBatchInput) close() {
	if in.closer != nil {
		_ = in.closer.Close()
	}
}

// cliChunk is one batch request: consecutive timers of the input.
type cliChunk struct {
	first   int // index of its first timer in the input
	items   []api.BatchItem
	end     int64 // input offset after its last timer, for progress
	results []api.BatchResult
	err     error
	done    chan struct{} // closed when results or err is set
}

// chunk reads the next request's timers: at most max of them, and at most
// budget bytes of JSON, so that no request exceeds the NATS server's max
// payload whatever the payloads are (a lone timer over it is still sent,
// and fails on its own). It answers nil at the end of the input; on a
// malformed timer it answers the timers before it along with the error.
func (in *cliBatchInput) chunk(max int, budget int64) (*cliChunk, error) {
	c := &cliChunk{first: in.count, done: make(chan struct{})}
	size := int64(2) // [ and ]
	for len(c.items) < max {
		item, ok, err := in.next()
		if err != nil || !ok {
			c.end = in.offset()
			if len(c.items) == 0 {
				return nil, err
			}
			return c, err
		}
		b, merr := json.Marshal(item)
		if merr != nil {
			return c, fmt.Errorf("timer %d: %w", in.count-1, merr)
		}
		size += int64(len(b)) + 1
		if size > budget && len(c.items) > 0 {
			in.pushBack(item)
			break
		}
		c.items = append(c.items, item)
	}
	c.end = in.offset()
	return c, nil
}

// pushBack returns one timer to the input: it opens the next chunk.
func (in *cliBatchInput) pushBack(item api.BatchItem) {
	in.count--
	in.held = &item
}
