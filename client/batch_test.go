package client

import (
	"context"
	"testing"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/nodetest"
)

// Against a real timerd: a failed element decodes with its id, its error
// and its code, and nothing of a schedule reply; a success is the reply.
func TestBatchResultsFromTimerd(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	c := New(n.Connect())
	results, err := c.BatchItems(context.Background(), []api.BatchItem{
		{ID: "ok-1", Subject: "demo.x", In: "1h"},
		{ID: "bad-1", Subject: "demo.x", In: "soon"},
		{Subject: "demo.*", In: "1h"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Error != "" || r.ID != "ok-1" || !r.Created || r.Revision == 0 {
		t.Errorf("success: %+v", r)
	}
	if _, err := time.Parse(time.RFC3339Nano, results[0].Next); err != nil {
		t.Errorf("success next %q: %v", results[0].Next, err)
	}
	for i, want := range map[int]string{1: "bad-1", 2: ""} {
		r := results[i]
		if r.ID != want || r.Code != api.CodeBadRequest || r.Error == "" || r.Created || r.Revision != 0 || r.Next != "" {
			t.Errorf("element %d: %+v, want a 400 with id %q", i, r, want)
		}
	}
}
