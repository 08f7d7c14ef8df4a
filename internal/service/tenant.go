package service

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/node"
	"github.com/timerd/timerd/internal/shard"
)

// Tenants. NATS knows who calls when a request crosses an account import:
// the server then sets Nats-Request-Info (the calling account, and with the
// import's share: true its user), replacing whatever the caller sent. A
// timer belongs to the calling account: its id is stored as
// api.JoinID(account, id), another account's ids are invisible, and its
// fires go to <TenantPrefix>.<account>.<subject> in timerd's account, which
// timerd exports to that account alone (docs/security.md has the
// configuration). A request without the header did not cross an import:
// it is the operator's, under --allow-subjects.

// caller is who sent a request.
type caller struct {
	tenant string // the account; "" for the operator
	user   string // with share: true, the user
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// callerOf reads Nats-Request-Info.
func callerOf(h map[string][]string, operator string) (caller, *api.Error) {
	v, err := headerOf(h, "Nats-Request-Info")
	if err != nil || v == "" {
		return caller{}, err
	}
	var info struct {
		Account string `json:"acc"`
		User    string `json:"user"`
	}
	if json.Unmarshal([]byte(v), &info) != nil {
		return caller{}, api.Errorf(api.CodeBadRequest, "Nats-Request-Info %q does not parse", v)
	}
	if info.Account == "" || info.Account == operator {
		return caller{}, nil
	}
	if len(info.Account) > 128 || strings.ContainsAny(info.Account, " \t\r\n") {
		return caller{}, api.Errorf(api.CodeForbidden, "account %q cannot hold timers: its name has white space or is over 128 bytes", info.Account)
	}
	return caller{tenant: info.Account, user: info.User}, nil
}

// admit applies the caller's rule to a validated schedule request and
// moves it into the caller's space: the id and the fire subject.
func (s *Service) admit(c caller, r *shard.Request, name func(string) string) *api.Error {
	if c.tenant == "" {
		return nil
	}
	rule, rname := s.rules().effective(c.tenant, c.user)
	if rule == nil {
		return api.Errorf(api.CodeForbidden, "account %q has no rule in --rules (and there is no \"*\" rule): it may not schedule timers", c.tenant)
	}
	rec := r.Timer
	if err := rule.checkSubject(rname, name(api.HeaderSubject), rec.Subject); err != nil {
		return err
	}
	if rule.MaxPayload > 0 && len(rec.Payload) > rule.MaxPayload {
		return api.Errorf(api.CodeTooLarge, "payload is %d bytes; the --rules rule of %s allows %d", len(rec.Payload), rname, rule.MaxPayload)
	}
	if rule.MaxTimers > 0 {
		if n := s.tenantCount(c.tenant, 1); n > rule.MaxTimers {
			s.tenantCount(c.tenant, -1)
			return api.Errorf(api.CodeTooMany, "account %q holds %d timers; the --rules rule of %s allows %d: cancel some first", c.tenant, n-1, rname, rule.MaxTimers)
		}
	}
	rec.ID = api.JoinID(c.tenant, rec.ID)
	rec.Subject = s.cfg.TenantPrefix + "." + c.tenant + "." + rec.Subject
	return nil
}

// limitRate applies the caller's MaxRate (429 when over it).
func (s *Service) limitRate(c caller) *api.Error {
	if c.tenant == "" {
		return nil
	}
	rule, rname := s.rules().effective(c.tenant, c.user)
	if rule == nil || rule.MaxRate <= 0 {
		return nil
	}
	if !s.rates.take(c.tenant+" "+c.user, rule.MaxRate, time.Now()) {
		return api.Errorf(api.CodeTooMany, "over %g requests a second, the --rules rule of %s; retry shortly", rule.MaxRate, rname)
	}
	return nil
}

// outward shows a reply to its caller: ids and subjects as the caller
// knows them.
func (s *Service) outward(c caller, v any) any {
	if c.tenant == "" {
		return v
	}
	strip := func(id string) string { _, local := api.SplitID(id); return local }
	subject := func(sub string) string {
		return strings.TrimPrefix(sub, s.cfg.TenantPrefix+"."+c.tenant+".")
	}
	switch r := v.(type) {
	case api.ScheduleReply:
		r.ID = strip(r.ID)
		return r
	case api.CancelReply:
		r.ID = strip(r.ID)
		return r
	case api.TriggerReply:
		r.ID = strip(r.ID)
		return r
	case api.Timer:
		r.ID, r.Subject = strip(r.ID), subject(r.Subject)
		return r
	case api.ListReply:
		for i := range r.Timers {
			r.Timers[i].ID, r.Timers[i].Subject = strip(r.Timers[i].ID), subject(r.Timers[i].Subject)
		}
		if r.NextCursor != "" {
			if last, err := node.DecodeCursor(r.NextCursor); err == nil {
				r.NextCursor = node.EncodeCursor(strip(last))
			}
		}
		return r
	case []api.BatchResult:
		for i := range r {
			r[i].ID = strip(r[i].ID)
		}
		return r
	case api.Stats:
		// A tenant sees its own count, not the cluster's insides.
		return api.Stats{Node: r.Node, Version: r.Version, Ready: r.Ready, Healthy: r.Healthy,
			Timers: r.Cluster.Tenants[c.tenant], Scheduled: r.Cluster.Tenants[c.tenant]}
	}
	return v
}

// tenantCount adds add to the tenant's count of timers over the cluster
// (as last gathered, plus what this node admitted since) and returns it.
func (s *Service) tenantCount(tenant string, add int64) int64 {
	s.countsMu.Lock()
	defer s.countsMu.Unlock()
	if s.counts == nil {
		s.counts = make(map[string]int64)
	}
	s.counts[tenant] += add
	return s.counts[tenant]
}
