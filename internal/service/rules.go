package service

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/timerd/timerd/api"
	"github.com/timerd/timerd/internal/jetstream"
)

// Rules say what each tenant (a NATS account that imports timerd's API)
// may do: the fire subjects it may use, within its own subject space, and
// its limits. They come from --rules (a JSON file, reloaded on SIGHUP);
// docs/security.md is the reference. Requests that did not cross an import
// are the operator's: --allow-subjects applies to them, not these rules.
type Rules struct {
	// Accounts maps an account name (as the server names it in
	// Nats-Request-Info: the name in a configuration file, the public key
	// with JWTs) to its rule; "*" is the rule of accounts not listed.
	Accounts map[string]*Rule `json:"accounts"`
}

// Rule is one account's (or, under Users, one user's) rule.
type Rule struct {
	// Allow lists the subject filters fires may use (default ">": any of
	// the tenant's own subjects); Deny those they may not, checked first.
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// MaxTimers bounds the tenant's stored timers, over every node (0: no
	// limit; an account's only). Counted from each node's figures every
	// few seconds, so a burst may pass it by that much.
	MaxTimers int64 `json:"max_timers,omitempty"`
	// MaxRate bounds requests a second, per node (0: no limit).
	MaxRate float64 `json:"max_rate,omitempty"`
	// MaxPayload bounds a timer's payload in bytes (0: --max-payload).
	MaxPayload int `json:"max_payload,omitempty"`
	// Users refines the rule for users of the account, when its import
	// shares them (share: true); fields a user rule leaves empty are the
	// account's.
	Users map[string]*Rule `json:"users,omitempty"`
}

// LoadRules reads a rules file and checks it.
func LoadRules(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--rules %q: %w", path, err)
	}
	var r Rules
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("--rules %q: %w", path, err)
	}
	for acc, rule := range r.Accounts {
		if rule == nil {
			return nil, fmt.Errorf("--rules %q: account %q has no rule", path, acc)
		}
		for _, f := range append(append([]string{}, rule.Allow...), rule.Deny...) {
			if f == "" || strings.Contains(f, " ") {
				return nil, fmt.Errorf("--rules %q: account %q: %q is not a subject filter", path, acc, f)
			}
		}
	}
	return &r, nil
}

// effective is the rule applying to user of account acc, and its name for
// messages; nil when the account has none.
func (r *Rules) effective(acc, user string) (*Rule, string) {
	if r == nil {
		return &Rule{}, ""
	}
	rule, name := r.Accounts[acc], fmt.Sprintf("account %q", acc)
	if rule == nil {
		rule, name = r.Accounts["*"], `account "*"`
	}
	if rule == nil {
		return nil, ""
	}
	if u := rule.Users[user]; user != "" && u != nil {
		merged := *u
		if merged.Allow == nil {
			merged.Allow = rule.Allow
		}
		if merged.Deny == nil {
			merged.Deny = rule.Deny
		}
		if merged.MaxRate == 0 {
			merged.MaxRate = rule.MaxRate
		}
		if merged.MaxPayload == 0 {
			merged.MaxPayload = rule.MaxPayload
		}
		merged.MaxTimers = rule.MaxTimers
		return &merged, fmt.Sprintf("%s user %q", name, user)
	}
	return rule, name
}

// checkSubject applies the rule's deny and allow filters to a tenant's
// fire subject (in the tenant's own subject space).
func (rule *Rule) checkSubject(name, header, subject string) *api.Error {
	for _, f := range rule.Deny {
		if jetstream.SubjectMatches(f, subject) {
			return api.Errorf(api.CodeForbidden, "%s %q is not allowed: the --rules rule of %s denies %s", header, subject, name, f)
		}
	}
	if len(rule.Allow) == 0 {
		return nil
	}
	for _, f := range rule.Allow {
		if jetstream.SubjectMatches(f, subject) {
			return nil
		}
	}
	return api.Errorf(api.CodeForbidden, "%s %q is not allowed: the --rules rule of %s allows only %s", header, subject, name, strings.Join(rule.Allow, ", "))
}

// rates are the token buckets of MaxRate, one per account and user.
type rates struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// take spends one request of rate per second (a second's worth of burst);
// false when none is left.
func (r *rates) take(key string, rate float64, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.buckets == nil {
		r.buckets = make(map[string]*bucket)
	}
	b := r.buckets[key]
	if b == nil {
		if len(r.buckets) > 100000 {
			clear(r.buckets) // bounded: forgetting buckets only forgives
		}
		b = &bucket{tokens: rate, last: now}
		r.buckets[key] = b
	}
	b.tokens = min(rate, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
