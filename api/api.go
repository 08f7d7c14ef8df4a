// Package api is timerd's wire protocol, version 1: the subjects, header names,
// error codes and JSON shapes of ../shared/PROTOCOL.md (restated in
// docs/protocol.md). The server and the Go client both speak it through this
// package, so the two cannot drift apart. It holds no logic beyond naming,
// the shape of a batch result, and FireSize: the size of a fire, which the
// service checks at schedule time and the node may check at fire time, so
// it is defined here, once.
package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultPrefix is the API subject prefix when --api-prefix is not given.
const DefaultPrefix = "timerd"

// ServiceName is the NATS micro service name, so `nats micro ls` finds timerd.
const ServiceName = "timerd"

// Endpoint names; the subject is prefix + "." + name.
const (
	EndpointSchedule = "schedule"
	EndpointBatch    = "batch"
	EndpointCancel   = "cancel"
	EndpointGet      = "get"
	EndpointList     = "list"
	EndpointPause    = "pause"
	EndpointResume   = "resume"
	EndpointTrigger  = "trigger"
	EndpointStats    = "stats"
)

// Request headers. Header names are case-insensitive on the wire.
const (
	HeaderSubject          = "Timer-Subject"
	HeaderIn               = "Timer-In"
	HeaderAt               = "Timer-At"
	HeaderCron             = "Timer-Cron"
	HeaderRepeat           = "Timer-Repeat"
	HeaderID               = "Timer-Id"
	HeaderTimeZone         = "Timer-Time-Zone"
	HeaderStart            = "Timer-Start"
	HeaderEnd              = "Timer-End"
	HeaderMaxFires         = "Timer-Max-Fires"
	HeaderMisfire          = "Timer-Misfire"
	HeaderJitter           = "Timer-Jitter"
	HeaderReplace          = "Timer-Replace"
	HeaderExpectedRevision = "Timer-Expected-Revision"
	HeaderCronDialect      = "Timer-Cron-Dialect" // standard (default), quartz, eventbridge
	HeaderDryRun           = "Timer-Dry-Run"      // true: validate and answer the timer, store nothing
	HeaderUpcoming         = "Timer-Upcoming"     // get: how many next occurrences (default 5, at most 100)
	HeaderPrefix           = "Timer-Prefix"
	HeaderLimit            = "Timer-Limit"
	HeaderCursor           = "Timer-Cursor"
)

// Headers timerd adds to every fire.
const (
	HeaderDue   = "Timer-Due"   // nominal fire time, RFC 3339 UTC with nanoseconds
	HeaderFire  = "Timer-Fire"  // 1 for the first fire of the timer, 2 for the second, ...
	HeaderMsgID = "Nats-Msg-Id" // f(id, nominal time): the JetStream dedup id
)

// MsgIDPrefix starts every Nats-Msg-Id of a fire: "timerd.<id>.<Unix nanoseconds
// of the nominal time>".
const MsgIDPrefix = "timerd."

// A tenant's timers are stored under internal ids "<account> <id>": client
// ids never hold a space, so the two parts never mix, and the same id in
// two accounts is two timers. The operator's timers (requests that did
// not cross an account import) keep their ids as they are.

// JoinID is the internal id of timer id of tenant ("" for the operator).
func JoinID(tenant, id string) string {
	if tenant == "" {
		return id
	}
	return tenant + " " + id
}

// SplitID is JoinID's inverse: the tenant ("" for the operator) and the
// id its owner knows.
func SplitID(internal string) (tenant, id string) {
	if i := strings.IndexByte(internal, ' '); i >= 0 {
		return internal[:i], internal[i+1:]
	}
	return "", internal
}

// MsgID is the Nats-Msg-Id of the occurrence of timer id at nominal (Unix
// nanoseconds): a function of the two alone, the same on every node and
// after every restart, so a stream's duplicate window stores it once.
func MsgID(id string, nominal int64) string {
	return MsgIDPrefix + id + "." + strconv.FormatInt(nominal, 10)
}

// Micro error headers, set on every failed reply.
const (
	HeaderErrorCode = "Nats-Service-Error-Code"
	HeaderError     = "Nats-Service-Error"
)

// Error codes (HTTP-like).
const (
	CodeBadRequest = 400
	CodeForbidden  = 403
	CodeNotFound   = 404
	CodeConflict   = 409
	CodeTooLarge   = 413
	CodeTooMany    = 429
	CodeNotReady   = 503
	CodeInternal   = 500
)

// Timer kinds as reported by get.
const (
	KindIn     = "in"
	KindAt     = "at"
	KindCron   = "cron"
	KindRepeat = "repeat"
)

// Timer states as reported by get.
const (
	StateScheduled = "scheduled"
	StatePaused    = "paused"
	// StateFailed: a fire could not be published (too large for the
	// server, say) and the timer was set aside; Timer.Failed says why.
	StateFailed = "failed"
)

// Misfire policies (Timer-Misfire).
const (
	MisfireSkip = "skip"
	MisfireOnce = "once"
	MisfireAll  = "all"
)

// Limits.
const (
	MaxIDLen        = 256
	DefaultLimit    = 100
	MaxLimit        = 10000
	DefaultMaxBatch = 1000
	DefaultPayload  = 64 * 1024

	// MaxSubjectLen and MaxSubjectTokens bound Timer-Subject: far below the
	// NATS control line (4 KiB by default), which a fire's subject must fit.
	MaxSubjectLen    = 1024
	MaxSubjectTokens = 128
	// MaxKeptHeaders and MaxKeptHeaderBytes bound the headers copied onto
	// every fire: their number, and the bytes of their names and values.
	MaxKeptHeaders     = 64
	MaxKeptHeaderBytes = 16 * 1024
	// DefaultServerMaxPayload is the NATS server's own default max_payload,
	// assumed when the connection does not say (it always does once connected).
	DefaultServerMaxPayload = 1024 * 1024
)

// The longest values timerd's own fire headers take, for FireSize: Timer-Due
// between 1970 and 2262 with nine digits of fraction
// ("2262-04-11T23:47:16.854775807Z"), and Timer-Fire and the nanoseconds of
// Nats-Msg-Id, which are int64 counts of at most 19 digits.
const (
	maxDueLen   = len("2262-04-11T23:47:16.854775807Z")
	maxInt64Len = len("9223372036854775807")
)

// FireSize returns the size in bytes that a fire of timer id counts against
// the NATS server's max payload (nats.go refuses to publish beyond it, the
// server closes a connection that tries): the NATS header block
// ("NATS/1.0\r\n", a "Key: Value\r\n" line for each kept header and for
// Timer-Id, Timer-Due, Timer-Fire and Nats-Msg-Id, then "\r\n") plus the
// payload. keptHeaders is the number of kept header lines and
// keptHeaderBytes the bytes of their names and values, as
// MaxKeptHeaderBytes counts them. timerd's own values are counted at their
// longest, so the result bounds every fire of the timer, however many
// times and whenever it fires; it exceeds the exact size by at most 46
// bytes, plus any white space around kept values, which nats.go trims. The
// subject is not part of the payload; MaxSubjectLen bounds it.
func FireSize(id string, keptHeaders, keptHeaderBytes, payload int) int {
	const perLine = len(": \r\n")
	size := len("NATS/1.0\r\n") + keptHeaders*perLine + keptHeaderBytes + len("\r\n") + payload
	size += len(HeaderID) + perLine + len(id)
	size += len(HeaderDue) + perLine + maxDueLen
	size += len(HeaderFire) + perLine + maxInt64Len
	size += len(HeaderMsgID) + perLine + len(MsgIDPrefix) + len(id) + len(".") + maxInt64Len
	return size
}

// TimeFormat is how every time in a reply or fire header is written:
// RFC 3339, UTC, nanoseconds.
const TimeFormat = time.RFC3339Nano

// FormatTime writes t as replies and fire headers carry it.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Error is a failed request: the protocol's code and a sentence that names
// what was wrong and what would be accepted. The service answers it with
// the micro error headers and an ErrorReply body.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf makes an *Error with code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ErrorReply is the JSON body of a failed request and of a failed batch element.
type ErrorReply struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

// ScheduleReply answers timerd.schedule and each successful batch element.
type ScheduleReply struct {
	ID       string `json:"id"`
	Next     string `json:"next,omitempty"`
	Revision uint64 `json:"revision"`
	Created  bool   `json:"created"`
}

// BatchItem is one element of a timerd.batch request: the schedule headers in
// snake case, plus kept headers and the payload.
type BatchItem struct {
	ID          string            `json:"id,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	In          string            `json:"in,omitempty"`
	At          string            `json:"at,omitempty"`
	Cron        string            `json:"cron,omitempty"`
	Repeat      string            `json:"repeat,omitempty"`
	TimeZone    string            `json:"time_zone,omitempty"`
	Start       string            `json:"start,omitempty"`
	End         string            `json:"end,omitempty"`
	MaxFires    *int64            `json:"max_fires,omitempty"`
	Misfire     string            `json:"misfire,omitempty"`
	Jitter      string            `json:"jitter,omitempty"`
	Replace     bool              `json:"replace,omitempty"`
	CronDialect string            `json:"cron_dialect,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Data        *string           `json:"data,omitempty"`
	DataB64     *string           `json:"data_b64,omitempty"`
}

// BatchResult is one element of a timerd.batch reply: either a schedule reply
// or an error, never both. A failed element carries the element's id (when
// it gave one) in ScheduleReply.ID, and nothing else of the reply.
type BatchResult struct {
	ScheduleReply
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// MarshalJSON writes a success as its schedule reply and a failure as
// {"id", "error", "code"} alone, "id" only when the element gave one: the
// zero revision and created of an embedded reply would read as facts about
// a timer that was never stored. The default decoding reads both shapes.
func (r BatchResult) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// CancelReply answers timerd.cancel.
type CancelReply struct {
	ID        string `json:"id"`
	Cancelled bool   `json:"cancelled"`
}

// TriggerReply answers timerd.trigger: the occurrence that was fired now.
type TriggerReply struct {
	ID   string `json:"id"`
	Due  string `json:"due"`  // nominal time of the fired occurrence
	Fire int64  `json:"fire"` // its Timer-Fire number
	Next string `json:"next,omitempty"`
}

// Timer answers timerd.get, pause and resume, and is an element of a list page.
type Timer struct {
	ID          string            `json:"id"`
	Subject     string            `json:"subject"`
	Kind        string            `json:"kind"`
	Spec        string            `json:"spec"`
	TimeZone    string            `json:"time_zone,omitempty"`
	Next        string            `json:"next,omitempty"`
	Fires       int64             `json:"fires"`
	State       string            `json:"state"`
	Revision    uint64            `json:"revision"`
	Created     string            `json:"created"`
	Headers     map[string]string `json:"headers,omitempty"`
	PayloadSize int               `json:"payload_size"`
	Start       string            `json:"start,omitempty"`
	End         string            `json:"end,omitempty"`
	MaxFires    int64             `json:"max_fires,omitempty"`
	Misfire     string            `json:"misfire,omitempty"`
	Jitter      string            `json:"jitter,omitempty"`
	// Upcoming lists the next nominal occurrences (get: Timer-Upcoming, 5
	// by default, at most 100).
	Upcoming []string `json:"upcoming,omitempty"`
	// Failed says why a timer in state failed was set aside.
	Failed string `json:"failed,omitempty"`
	// CronDialect is the dialect a cron spec was read in.
	CronDialect string `json:"cron_dialect,omitempty"`
}

// ListReply answers timerd.list.
type ListReply struct {
	Timers     []Timer `json:"timers"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// Stats answers timerd.stats.
type Stats struct {
	Node        string     `json:"node"`
	Version     string     `json:"version"`
	Ready       bool       `json:"ready"`
	Shards      int        `json:"shards"`
	OwnedShards []int      `json:"owned_shards"`
	Timers      int64      `json:"timers"`
	Scheduled   int64      `json:"scheduled"`
	Paused      int64      `json:"paused"`
	InWheel     int64      `json:"in_wheel"`
	InFlight    int64      `json:"in_flight"`
	Fired       uint64     `json:"fired"`
	Created     uint64     `json:"created_total"`
	Cancelled   uint64     `json:"cancelled"`
	Lag         LagStats   `json:"lag"`
	Store       StoreStats `json:"store"`
	// Failed counts timers set aside: a fire could not be published.
	Failed int64 `json:"failed"`
	// ByKind counts timers by kind (in, at, cron, repeat).
	ByKind map[string]int64 `json:"by_kind,omitempty"`
	// Tenants counts timers by tenant account (operator only).
	Tenants map[string]int64 `json:"tenants,omitempty"`
	// Healthy: the node's own heartbeat is stored (else it fires nothing).
	Healthy bool `json:"healthy"`
	// Nodes is the registry as this node sees it.
	Nodes []NodeStats `json:"nodes,omitempty"`
	// Cluster sums the figures of every node that answered (timerd.stats
	// asks them all); Node and the fields above are the answering node's.
	Cluster *ClusterStats `json:"cluster,omitempty"`
}

// NodeStats is one node of the registry.
type NodeStats struct {
	Name          string `json:"name"`
	Health        string `json:"health"` // normal, weak (a beat missed), lost (silent past the TTL)
	Shards        int    `json:"shards"` // shards it holds the lease of
	Version       string `json:"version,omitempty"`
	HTTP          string `json:"http,omitempty"`
	Started       string `json:"started,omitempty"`
	LastBeatAgoMs int64  `json:"last_beat_ago_ms"`
}

// ClusterStats sums the stats of the nodes that answered.
type ClusterStats struct {
	Nodes     int              `json:"nodes"`
	Timers    int64            `json:"timers"`
	Scheduled int64            `json:"scheduled"`
	Paused    int64            `json:"paused"`
	Failed    int64            `json:"failed"`
	Fired     uint64           `json:"fired"`
	ByKind    map[string]int64 `json:"by_kind,omitempty"`
	Tenants   map[string]int64 `json:"tenants,omitempty"`
	Missing   []string         `json:"missing,omitempty"` // live nodes that did not answer
}

// LagStats summarizes fire lag (publish time minus nominal time, jitter
// excluded) over the recent window.
type LagStats struct {
	Count uint64  `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// StoreStats describes the JetStream side of this node.
type StoreStats struct {
	Bucket  string `json:"bucket"`
	Records uint64 `json:"records"`
	Bytes   uint64 `json:"bytes"`
	Writes  uint64 `json:"writes"`
}
