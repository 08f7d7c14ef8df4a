// Package statuspage serves timerd's status page on the --http address: a
// server-rendered HTML page (html/template, no build step, no external
// asset) that shows a person the whole cluster, whichever node serves it.
//
// It owns what a person sees: the nodes and their health, which node holds
// which shard, pending timers by kind and state, fires per second over the
// last minutes and the fire lag histogram (inline SVG drawn here), the
// store's figures, errors and recent warnings, a timer looked up by id with
// its next occurrences, and a paged list of timers by id prefix.
//
// It reads everything through timerd's public NATS API with the Go client
// (timerd.stats, timerd.get with Timer-Upcoming, timerd.list), over the
// node's own connection, so it needs no access to the node's insides beyond
// three optional views the wiring may hand it: the node's Prometheus
// registry (the lag histogram and error counters of this node), the shard
// owners as this node sees the registry, and the warnings this node logged.
// It is read-only: it answers GET (and HEAD) only, and sends no request
// that changes anything. Every request it makes is bounded in time, every
// input in size, and concurrent renders in number.
//
// One goroutine, owned by the Page and stopped by Close, samples the
// cluster's figures every few seconds into a small in-memory history for
// the charts; it is the only writer of that history.
package statuspage
