package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

// tenantConf is a nats-server configuration with timerd in its own
// account, exporting its API and each tenant's fires to that tenant only;
// tenants A and B import them (fires mapped back onto their own subjects).
const tenantConf = `
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
accounts {
  TIMERD: {
    jetstream: enabled
    users: [{user: timerd, password: timerd-secret}]
    exports: [
      {service: "timerd.*", accounts: [A, B]}
      {stream: "tenants.A.>", accounts: [A]}
      {stream: "tenants.B.>", accounts: [B]}
    ]
  }
  A: {
    jetstream: enabled
    users: [{user: alice, password: a}, {user: client, password: c, permissions: {publish: {deny: ["secret.>"]}}}, {user: eager, password: e}]
    imports: [
      {service: {account: TIMERD, subject: "timerd.*"}, share: true}
      {stream: {account: TIMERD, subject: "tenants.A.>"}, to: ">"}
    ]
  }
  B: {
    jetstream: enabled
    users: [{user: bob, password: b}]
    imports: [
      {service: {account: TIMERD, subject: "timerd.*"}, share: true}
      {stream: {account: TIMERD, subject: "tenants.B.>"}, to: ">"}
    ]
  }
}
`

const tenantRules = `{"accounts": {
  "A": {"max_timers": 30, "max_payload": 100,
        "users": {"client": {"deny": ["secret.>"]}, "eager": {"max_rate": 2}}},
  "B": {"allow": ["b.>", "shared.>"]}
}}`

type tenantSetup struct {
	url   string
	rules string
	proc  *watched
}

func startTenants(t *testing.T) *tenantSetup {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "nats.conf")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(conf, fmt.Sprintf(tenantConf, port, filepath.Join(dir, "js")))
	write(filepath.Join(dir, "pw"), "timerd-secret\n")
	ts := &tenantSetup{url: fmt.Sprintf("nats://127.0.0.1:%d", port), rules: filepath.Join(dir, "rules.json")}
	write(ts.rules, tenantRules)
	ts.proc = startRun(t, "serve", "--nats-config", conf, "--user", "timerd", "--password-file", filepath.Join(dir, "pw"),
		"--data", filepath.Join(dir, "data"), "--rules", ts.rules, "--log-level", "warn", "--mark-interval", "200ms", "--node", "t1")
	// A second node on the same NATS: requests are handed between the two,
	// and each keeps its caller.
	nodetest.Eventually(t, 30*time.Second, func() error {
		nc, err := ts.connect("timerd", "timerd-secret")
		if err != nil {
			return fmt.Errorf("%v; stderr: %s", err, ts.proc.stderr)
		}
		nc.Close()
		return nil
	})
	startRun(t, "serve", "--nats", ts.url, "--user", "timerd", "--password-file", filepath.Join(dir, "pw"),
		"--rules", ts.rules, "--log-level", "warn", "--mark-interval", "200ms", "--node", "t2")
	nodetest.Eventually(t, 30*time.Second, func() error {
		nc, err := ts.connect("alice", "a")
		if err != nil {
			return fmt.Errorf("%v; stderr: %s", err, ts.proc.stderr)
		}
		defer nc.Close()
		op, err := ts.connect("timerd", "timerd-secret")
		if err != nil {
			return err
		}
		defer op.Close()
		st, err := clusterStats(op)
		if err != nil {
			return err
		}
		if st.Cluster == nil || st.Cluster.Nodes != 2 {
			return fmt.Errorf("cluster %+v", st.Cluster)
		}
		return nil
	})
	return ts
}

func (ts *tenantSetup) connect(user, password string) (*nats.Conn, error) {
	return nats.Connect(ts.url, nats.UserInfo(user, password), nats.ReconnectWait(20*time.Millisecond))
}

func (ts *tenantSetup) client(t *testing.T, user, password string) (*client.Client, *nats.Conn) {
	t.Helper()
	nc, err := ts.connect(user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return client.New(nc, client.WithTimeout(10*time.Second)), nc
}

func code(err error) int {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Tenants by NATS account: each sees, changes and receives only its own
// timers; the same id in two accounts is two timers; a forged
// Nats-Request-Info changes nothing; a user denied a subject by NATS
// cannot have timerd publish there for it (the confused deputy), while
// another user of the account can.
func TestTenantsAreIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process")
	}
	ts := startTenants(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice, ncA := ts.client(t, "alice", "a")
	clientUser, _ := ts.client(t, "client", "c")
	bob, ncB := ts.client(t, "bob", "b")

	// The confused deputy: client may not publish on secret.>, so timerd
	// may not publish there for it; alice may.
	secret, err := ncA.SubscribeSync("secret.>")
	if err != nil {
		t.Fatal(err)
	}
	_, err = clientUser.Schedule(ctx, client.Timer{Subject: "secret.x", In: 0, Data: []byte("via-timerd")})
	if code(err) != api.CodeForbidden || !strings.Contains(err.Error(), `user "client"`) {
		t.Fatalf("client to secret.x: %v", err)
	}
	if _, err := alice.Schedule(ctx, client.Timer{Subject: "secret.x", In: 0, Data: []byte("allowed")}); err != nil {
		t.Fatal(err)
	}
	if m, err := secret.NextMsg(10 * time.Second); err != nil || string(m.Data) != "allowed" {
		t.Fatalf("alice's fire on secret.x: %v %v", m, err)
	}

	// The same id in two accounts is two timers, each delivered into its
	// own account's dedup stream exactly once.
	jsA, _ := jetstream.New(ncA)
	jsB, _ := jetstream.New(ncB)
	sA, err := jsA.CreateStream(ctx, jetstream.StreamConfig{Name: "AFIRES", Subjects: []string{"shared.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sB, err := jsB.CreateStream(ctx, jetstream.StreamConfig{Name: "BFIRES", Subjects: []string{"shared.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(2 * time.Second)
	ra, err := alice.Schedule(ctx, client.Timer{ID: "x", Subject: "shared.x", At: due, Data: []byte("from A")})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := bob.Schedule(ctx, client.Timer{ID: "x", Subject: "shared.x", At: due, Data: []byte("from B")})
	if err != nil {
		t.Fatal(err)
	}
	if !ra.Created || !rb.Created || ra.ID != "x" || rb.ID != "x" {
		t.Fatalf("the same id in two accounts: %+v, %+v", ra, rb)
	}
	if _, err := bob.Schedule(ctx, client.Timer{ID: "only-b", Subject: "b.y", In: time.Hour}); err != nil {
		t.Fatal(err)
	}
	got, err := alice.Get(ctx, "x")
	if err != nil || got.Subject != "shared.x" || got.PayloadSize != len("from A") {
		t.Fatalf("alice's x: %+v %v", got, err)
	}
	for name, call := range map[string]func() error{
		"get":     func() error { _, err := alice.Get(ctx, "only-b"); return err },
		"cancel":  func() error { _, err := alice.Cancel(ctx, "only-b"); return err },
		"trigger": func() error { _, err := alice.Trigger(ctx, "only-b"); return err },
		"pause":   func() error { _, err := alice.Pause(ctx, "only-b"); return err },
	} {
		if err := call(); code(err) != api.CodeNotFound {
			t.Errorf("A %s of B's timer: %v, want 404", name, err)
		}
	}
	// A replace by A makes A's own timer; B's stays as it was.
	if _, err := alice.Schedule(ctx, client.Timer{ID: "only-b", Subject: "shared.a", In: time.Hour, Replace: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := bob.Get(ctx, "only-b"); err != nil || b.Subject != "b.y" {
		t.Fatalf("B's only-b after A's replace: %+v %v", b, err)
	}
	var ids []string
	if err := alice.ListAll(ctx, "", func(tm api.Timer) error { ids = append(ids, tm.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if strings.Contains(id, " ") || id == "" {
			t.Fatalf("A's list shows %q", id)
		}
	}
	if fmt.Sprint(ids) != "[only-b x]" {
		t.Fatalf("A lists %v", ids)
	}

	// A forged Nats-Request-Info naming B is replaced by the server.
	m := nats.NewMsg("timerd.get")
	m.Header.Set(api.HeaderID, "only-b")
	m.Header.Set("Nats-Request-Info", `{"acc":"B","user":"bob"}`)
	resp, err := ncA.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var forged api.Timer
	if err := json.Unmarshal(resp.Data, &forged); err != nil || forged.Subject != "shared.a" {
		t.Fatalf("a forged Nats-Request-Info got %s", resp.Data)
	}

	// B may only use b.> and shared.>.
	if _, err := bob.Schedule(ctx, client.Timer{Subject: "orders.x", In: time.Hour}); code(err) != api.CodeForbidden || !strings.Contains(err.Error(), `account "B"`) {
		t.Fatalf("B outside its allow list: %v", err)
	}
	for _, s := range []jetstream.Stream{sA, sB} {
		nodetest.Eventually(t, 20*time.Second, func() error {
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			if info.State.Msgs != 1 {
				return fmt.Errorf("%s holds %d fires", info.Config.Name, info.State.Msgs)
			}
			return nil
		})
	}
	ma, _ := sA.GetMsg(ctx, 1)
	mb, _ := sB.GetMsg(ctx, 1)
	if string(ma.Data) != "from A" || string(mb.Data) != "from B" || ma.Header.Get(api.HeaderID) != "x" || mb.Subject != "shared.x" {
		t.Fatalf("fires: A %q %v, B %q %s", ma.Data, ma.Header, mb.Data, mb.Subject)
	}

	// The operator (timerd's own account) lists no tenant's timers.
	op, _ := ts.client(t, "timerd", "timerd-secret")
	var opIDs []string
	if err := op.ListAll(ctx, "", func(tm api.Timer) error { opIDs = append(opIDs, tm.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(opIDs) != 0 {
		t.Fatalf("the operator lists %v", opIDs)
	}
}

// Per-tenant limits answer 429 or 413 naming the rule, and store nothing;
// a SIGHUP reloads the rules.
func TestTenantLimitsAndRulesReload(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process")
	}
	ts := startTenants(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice, _ := ts.client(t, "alice", "a")
	eager, _ := ts.client(t, "eager", "e")

	if _, err := alice.Schedule(ctx, client.Timer{Subject: "a.x", In: time.Hour, Data: make([]byte, 101)}); code(err) != api.CodeTooLarge || !strings.Contains(err.Error(), `account "A"`) {
		t.Fatalf("payload over the rule: %v", err)
	}
	refused := 0
	for range 10 {
		if _, err := eager.Schedule(ctx, client.Timer{Subject: "a.x", In: time.Hour}); code(err) == api.CodeTooMany {
			if !strings.Contains(err.Error(), `user "eager"`) {
				t.Fatalf("rate: %v", err)
			}
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("10 requests at once passed a rule of 2 a second")
	}
	// max_timers: 30 (counted every couple of seconds over the cluster).
	var batch []client.Timer
	for i := range 40 {
		batch = append(batch, client.Timer{ID: fmt.Sprint("m-", i), Subject: "a.x", In: time.Hour})
	}
	res, err := alice.Batch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	over := 0
	for _, r := range res {
		if r.Code == api.CodeTooMany {
			over++
		}
	}
	if over < 10 {
		t.Fatalf("%d of 40 timers refused with a rule of 30", over)
	}
	nodetest.Eventually(t, 20*time.Second, func() error {
		_, err := alice.Schedule(ctx, client.Timer{Subject: "a.x", In: time.Hour})
		if code(err) != api.CodeTooMany || !strings.Contains(err.Error(), "allows 30") {
			return fmt.Errorf("over max_timers: %v", err)
		}
		return nil
	})

	// Reload: A is now denied a.> altogether.
	if err := os.WriteFile(ts.rules, []byte(`{"accounts": {"A": {"deny": ["a.>"]}, "B": {}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = ts.proc.cmd.Process.Signal(syscall.SIGHUP)
	nodetest.Eventually(t, 10*time.Second, func() error {
		_, err := alice.Schedule(ctx, client.Timer{Subject: "a.y", In: time.Hour})
		if code(err) != api.CodeForbidden {
			return fmt.Errorf("after the reload: %v", err)
		}
		return nil
	})
}
