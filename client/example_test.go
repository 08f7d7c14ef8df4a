package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
)

// connect is how the examples reach timerd; any *nats.Conn will do.
func connect() *client.Client {
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		log.Fatal(err)
	}
	return client.New(nc, client.WithTimeout(3*time.Second))
}

func Example() {
	c := connect()
	rep, err := c.Schedule(context.Background(), client.Timer{
		ID:      "order-1",
		Subject: "orders.expire",
		In:      30 * time.Minute,
		Headers: nats.Header{"X-Tenant": {"acme"}},
		Data:    []byte(`{"order":1}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("scheduled %s at %s (revision %d)\n", rep.ID, rep.Next, rep.Revision)
}

func ExampleClient_Schedule_cron() {
	c := connect()
	_, err := c.Schedule(context.Background(), client.Timer{
		ID:       "daily-report",
		Subject:  "reports.run",
		Cron:     "0 6 * * 1-5",
		TimeZone: "Europe/Paris",
		Misfire:  api.MisfireSkip,
		Jitter:   time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Schedule_isoDuration() {
	c := connect()
	_, err := c.Schedule(context.Background(), client.Timer{
		ID:      "trial-end-42",
		Subject: "billing.trial.end",
		InSpec:  "P14DT12H", // ISO 8601, sent as is
	})
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Schedule_replace() {
	c := connect()
	ctx := context.Background()
	current, err := c.Get(ctx, "order-1")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Schedule(ctx, client.Timer{
		ID:               "order-1",
		Subject:          "orders.expire",
		At:               time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC),
		Replace:          true,
		ExpectedRevision: current.Revision, // 409 if someone changed it since
	})
	if client.IsConflict(err) {
		fmt.Println("changed concurrently; read it again")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Batch() {
	c := connect()
	results, err := c.Batch(context.Background(), []client.Timer{
		{ID: "reminder-1", Subject: "reminders", In: time.Hour, Data: []byte("first")},
		{ID: "reminder-2", Subject: "reminders", In: 2 * time.Hour, Data: []byte("second")},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		if r.Error != "" {
			fmt.Printf("failed: %s (code %d)\n", r.Error, r.Code)
			continue
		}
		fmt.Println(r.ID, r.Next)
	}
}

func ExampleClient_Cancel() {
	c := connect()
	_, err := c.Cancel(context.Background(), "order-1")
	switch {
	case client.IsNotFound(err):
		fmt.Println("already fired or never scheduled")
	case err != nil:
		log.Fatal(err)
	}
}

func ExampleClient_List() {
	c := connect()
	ctx := context.Background()
	opts := client.ListOptions{Prefix: "order-", Limit: 50}
	for {
		page, err := c.List(ctx, opts)
		if err != nil {
			log.Fatal(err)
		}
		for _, t := range page.Timers {
			fmt.Println(t.ID, t.Next)
		}
		if page.NextCursor == "" {
			return
		}
		opts.Cursor = page.NextCursor
	}
}

func ExampleClient_ListAll() {
	c := connect()
	err := c.ListAll(context.Background(), "order-", func(t api.Timer) error {
		fmt.Println(t.ID, t.Kind, t.Spec, t.Next)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Trigger() {
	c := connect()
	rep, err := c.Trigger(context.Background(), "daily-report")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fired occurrence %d (due %s); next %s\n", rep.Fire, rep.Due, rep.Next)
}

func ExampleError() {
	c := connect()
	_, err := c.Get(context.Background(), "nope")
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Message)
	}
}
