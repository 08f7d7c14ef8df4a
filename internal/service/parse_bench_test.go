package service

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
)

// BenchmarkBatchParse is the service's share of a timerd.batch request of
// 1000 one-shots as BenchmarkBatchIngest sends them: decoding and
// validation, without the node and NATS.
func BenchmarkBatchParse(b *testing.B) {
	items := make([]api.BatchItem, 1000)
	for i := range items {
		it, err := client.Timer{ID: fmt.Sprintf("b-%d", i), Subject: "bench.x", In: time.Hour, Data: make([]byte, 64)}.BatchItem()
		if err != nil {
			b.Fatal(err)
		}
		items[i] = it
	}
	body, err := json.Marshal(items)
	if err != nil {
		b.Fatal(err)
	}
	l := limits{prefix: api.DefaultPrefix, maxPayload: api.DefaultPayload, serverMax: api.DefaultServerMaxPayload, allow: []string{">"}}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		items, err := decodeBatch(body, api.DefaultMaxBatch)
		if err != nil {
			b.Fatal(err)
		}
		for i := range items {
			f, perr := fromItem(&items[i])
			if perr == nil {
				_, perr = l.build(&f, now)
			}
			if perr != nil {
				b.Fatal(perr)
			}
		}
	}
}

// BenchmarkScheduleParse is the same for a timerd.schedule request as
// BenchmarkSingleIngest sends it.
func BenchmarkScheduleParse(b *testing.B) {
	msg, err := client.Timer{ID: "s-12345", Subject: "bench.x", In: time.Hour, Data: make([]byte, 64)}.Msg("")
	if err != nil {
		b.Fatal(err)
	}
	l := limits{prefix: api.DefaultPrefix, maxPayload: api.DefaultPayload, serverMax: api.DefaultServerMaxPayload, allow: []string{">"}}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		f, perr := fromHeaders(msg.Header, msg.Data)
		if perr == nil {
			_, perr = l.build(f, now)
		}
		if perr != nil {
			b.Fatal(perr)
		}
	}
}
