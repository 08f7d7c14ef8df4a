package client

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/timerd/timerd/api"
)

// runNATS starts an in-process NATS server on a random 127.0.0.1 port and
// returns a connection to it; both are closed when the test ends.
func runNATS(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// received is one request the fake service got.
type received struct {
	endpoint string
	header   nats.Header
	data     []byte
}

// fakeTimerd serves every timerd endpoint under prefix as a micro service,
// records each request on the returned channel and answers with respond.
func fakeTimerd(t *testing.T, nc *nats.Conn, prefix string, respond func(endpoint string, req micro.Request)) <-chan received {
	t.Helper()
	svc, err := micro.AddService(nc, micro.Config{Name: api.ServiceName, Version: "0.0.0", QueueGroup: "timerd"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	got := make(chan received, 100)
	group := svc.AddGroup(prefix)
	for _, ep := range []string{api.EndpointSchedule, api.EndpointBatch, api.EndpointCancel, api.EndpointGet,
		api.EndpointList, api.EndpointPause, api.EndpointResume, api.EndpointTrigger, api.EndpointStats} {
		err := group.AddEndpoint(ep, micro.HandlerFunc(func(req micro.Request) {
			got <- received{endpoint: ep, header: nats.Header(req.Headers()), data: append([]byte(nil), req.Data()...)}
			respond(ep, req)
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	// The endpoints must be known to the server before another connection
	// sends to them.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return got
}

// next answers the next recorded request, failing the test after a while.
func next(t *testing.T, got <-chan received) received {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the fake timerd received no request")
		return received{}
	}
}

// respondJSON answers v, failing the test on a send error.
func respondJSON(t *testing.T, req micro.Request, v any) {
	if err := req.RespondJSON(v); err != nil {
		t.Error(err)
	}
}
