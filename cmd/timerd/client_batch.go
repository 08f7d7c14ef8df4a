package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
)

// cliBatchInFlight is how many batch requests are in flight at once: the
// service handles requests concurrently, so a few in flight hide the round
// trip and the store's commit wait, while results still print in order.
const cliBatchInFlight = 4

// cliBatchHeadroom is what a batch request keeps free under the server's
// max payload, for the request's headers and the protocol line.
const cliBatchHeadroom = 4 << 10

func cliSetupBatch(r *cliRun, fs *flag.FlagSet) cliPrepare {
	maxBatch := api.DefaultMaxBatch
	fs.IntVar(&maxBatch, "max-batch", api.DefaultMaxBatch, "")
	return func(args []string) (cliAction, error) {
		if maxBatch < 1 {
			return nil, cliUsagef("--max-batch %d: give the server's --max-batch or less (default %d)", maxBatch, api.DefaultMaxBatch)
		}
		path := "-"
		if len(args) == 1 {
			path = args[0]
		}
		where := "batch file " + path
		if path == "-" {
			where = "batch from stdin"
		}
		in, err := r.openBatch(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		// The first chunk is read before connecting: input that is wrong
		// from the start fails with nothing sent.
		first, err := in.chunk(maxBatch, 1<<62)
		if err != nil {
			in.close()
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return func(ctx context.Context, c *client.Client) error {
			defer in.close()
			b := &cliBatchRun{r: r, c: c, in: in, max: maxBatch, where: where,
				progress: newCliProgress(r.stderr, cliIsTerminal(r.stderr), in.size, time.Now)}
			b.progress.sharesScreen = cliIsTerminal(r.stdout)
			return b.run(ctx, first)
		}, nil
	}
}

// cliBatchRun sends one batch input in chunks and prints the results in
// input order.
type cliBatchRun struct {
	r        *cliRun
	c        *client.Client
	in       *cliBatchInput
	max      int
	where    string
	progress *cliProgress

	printed, failed int
}

func (b *cliBatchRun) run(ctx context.Context, first *cliChunk) error {
	budget := int64(api.DefaultServerMaxPayload)
	if b.r.maxPayload > 0 {
		budget = b.r.maxPayload
	}
	budget -= cliBatchHeadroom
	// The first chunk was read without the server's limit: split it again
	// if it is over (payloads of tens of KiB, a thousand of them).
	pending := b.split(first, budget)

	var wg sync.WaitGroup
	defer wg.Wait() // every request goroutine ends before run returns
	var inFlight []*cliChunk
	var readErr, sendErr error
	var failedChunk *cliChunk
	for len(pending) > 0 || len(inFlight) > 0 {
		if len(pending) > 0 && len(inFlight) < cliBatchInFlight && sendErr == nil {
			ch := pending[0]
			pending = pending[1:]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(ch.done)
				ch.results, ch.err = b.c.BatchItems(ctx, ch.items)
			}()
			inFlight = append(inFlight, ch)
			if len(pending) == 0 && readErr == nil {
				var next *cliChunk
				next, readErr = b.in.chunk(b.max, budget)
				if next != nil {
					pending = append(pending, next)
				}
			}
			continue
		}
		head := inFlight[0]
		inFlight = inFlight[1:]
		<-head.done
		if head.err != nil {
			if sendErr == nil {
				sendErr, failedChunk = head.err, head
			}
			pending = nil // send nothing more; what is in flight is still reported
			continue
		}
		if err := b.print(head); err != nil {
			return err
		}
	}
	b.finish()
	switch {
	case sendErr != nil:
		return fmt.Errorf("timers %d to %d were not scheduled: %s; %d timers were answered (above), none after timer %d was sent",
			failedChunk.first, failedChunk.first+len(failedChunk.items)-1, strings.TrimPrefix(sendErr.Error(), "timerd: "),
			b.printed, failedChunk.first+len(failedChunk.items)-1)
	case readErr != nil:
		return fmt.Errorf("%s: %w; the %d timers before it were sent (above)", b.where, readErr, b.printed)
	case b.failed > 0:
		return fmt.Errorf("%d of %d timers failed", b.failed, b.printed)
	}
	return nil
}

// split cuts a chunk into chunks of at most budget bytes of JSON.
func (b *cliBatchRun) split(ch *cliChunk, budget int64) []*cliChunk {
	var out []*cliChunk
	cur := &cliChunk{first: ch.first, done: make(chan struct{}), end: ch.end}
	size := int64(2)
	for i, item := range ch.items {
		enc, _ := json.Marshal(item) // it was marshalled once already: no error
		if size+int64(len(enc))+1 > budget && len(cur.items) > 0 {
			out = append(out, cur)
			cur = &cliChunk{first: ch.first + i, done: make(chan struct{}), end: ch.end}
			size = 2
		}
		cur.items = append(cur.items, item)
		size += int64(len(enc)) + 1
	}
	return append(out, cur)
}

// print writes one answered chunk: each result as a line, or as elements
// of one JSON array across all chunks with --json.
func (b *cliBatchRun) print(ch *cliChunk) error {
	b.progress.clear()
	for _, res := range ch.results {
		if res.Error != "" || res.Code != 0 {
			b.failed++
		}
	}
	if b.r.jsonOut {
		for _, res := range ch.results {
			enc, err := json.MarshalIndent(res, "  ", "  ")
			if err != nil {
				return fmt.Errorf("encode reply: %w", err)
			}
			sep := ",\n  "
			if b.printed == 0 {
				sep = "[\n  "
			}
			fmt.Fprintf(b.r.stdout, "%s%s", sep, enc)
			b.printed++
		}
	} else {
		cliPrintBatch(b.r.stdout, ch.first, ch.items, ch.results)
		b.printed += len(ch.results)
	}
	b.progress.update(b.printed, ch.end)
	return nil
}

// finish closes the JSON array and ends the progress line.
func (b *cliBatchRun) finish() {
	if b.r.jsonOut && b.printed > 0 {
		fmt.Fprint(b.r.stdout, "\n]\n")
	}
	b.progress.done(b.printed, b.failed)
}
