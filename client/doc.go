// Package client is the Go client of timerd, the NATS delay/timer service.
//
// It speaks the wire protocol of package api over an existing *nats.Conn and
// owns nothing else: no goroutines, no connection management, no retries. A
// Client is safe for concurrent use and costs nothing to create.
//
// Scheduling a timer that publishes "hello" on orders.expire in 30 seconds:
//
//	nc, err := nats.Connect(nats.DefaultURL)
//	if err != nil {
//		return err
//	}
//	defer nc.Close()
//	c := client.New(nc)
//	rep, err := c.Schedule(ctx, client.Timer{
//		ID:      "order-1",
//		Subject: "orders.expire",
//		In:      30 * time.Second,
//		Data:    []byte("hello"),
//	})
//	if err != nil {
//		return err
//	}
//	fmt.Println(rep.ID, rep.Next, rep.Revision)
//
// A Timer says when it fires in exactly one way: In (or its raw text form
// InSpec), At, Cron or Repeat. Schedule is idempotent by id: a retry of the
// same request answers the original timer with Created false, so retrying
// after a timeout never schedules a second fire.
//
// To see when a timer fires before or after creating it: DryRun validates a
// Timer exactly as Schedule would and answers it with its next occurrences,
// storing nothing; Get with Upcoming(n) answers a stored timer's next n.
//
//	preview, err := c.DryRun(ctx, client.Timer{Subject: "reports.run", Cron: "0 0 9 ? * 6#3", CronDialect: "quartz"})
//	t, err := c.Get(ctx, "order-1", client.Upcoming(10))
//
// Every call takes a context. When the context has no deadline, the client's
// timeout (WithTimeout, default 5s) bounds the request.
//
// Errors answered by timerd are *Error values carrying the protocol code
// (api.CodeNotFound, api.CodeConflict, ...); IsNotFound and IsConflict test
// for the common ones. A timer the client can tell is invalid before sending
// it fails with an *Error of code api.CodeBadRequest, the same as if the
// server had refused it. When no timerd answers on the subject at all, the
// error matches nats.ErrNoResponders with errors.Is.
package client
