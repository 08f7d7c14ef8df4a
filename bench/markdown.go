package main

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders the report: what ran where, the table, ratios, goals and
// the charts (linked by the given file names).
func (r *Report) Markdown(lagSVG, ratesSVG string) string {
	var b strings.Builder
	w := r.Workload
	fmt.Fprintf(&b, "### %s\n\n", r.Name)
	fmt.Fprintf(&b, "Machine: %s. Started %s; load average before %s, after %s.\n\n", r.Machine, r.Started.UTC().Format(time.RFC3339), r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(&b, "```\n%s\n```\n\n", r.Command)
	spread := w.Spread.String()
	if w.Spread == 0 {
		spread = "0 (all due at once)"
	}
	fmt.Fprintf(&b, "Workload: %d timers, %d B payloads, first due %v after the start of ingest, spread %s", w.Timers, w.Payload, w.Due, spread)
	if w.Far > 0 {
		fmt.Fprintf(&b, " (%d of them; the other %d are due %v after the start of ingest, beyond the run, and stay pending)", w.Near(), w.Far, w.FarDue)
	}
	if rate := w.OfferedFireRate(); rate > 0 && !r.NoFire {
		fmt.Fprintf(&b, " (%.0f fires/s offered)", rate)
	}
	fmt.Fprintf(&b, "; %d requests in flight, batches of %d with %d in flight; %.0f%% cancelled; fire subjects %s; %d fire subjects", w.InFlight, w.Batch, w.BatchInFlight,
		w.CancelShare*100, map[bool]string{true: "captured by a dedup stream", false: "not captured (core NATS)"}[w.Capture], w.Subjects)
	if r.Restart {
		b.WriteString("; each contender restarted between ingest and the first due")
	}
	if r.NoFire {
		b.WriteString("; no fire phase (ingest, memory and restart only)")
	}
	b.WriteString(".\n\n")
	r.writePlacement(&b)

	b.WriteString("| contender | ingest /s | errors | fire /s | lag p50 ms | p99 ms | p99.9 ms | max ms | early | lost | dup | after cancel | RSS B/pending | heap B/pending | restart → firing |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, res := range r.Results {
		if res.Failed != "" {
			fmt.Fprintf(&b, "| %s | failed: %s |||||||||||||| \n", res.Contender, strings.ReplaceAll(res.Failed, "|", "/"))
			continue
		}
		ingest := num(res.IngestRate)
		if isFloor(res.Contender) {
			ingest = "in memory"
		}
		fmt.Fprintf(&b, "| %s | %s | %d ", res.Contender, ingest, res.Errors)
		if f := res.Fire; f != nil {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %d | %d | %d ", num(f.FireRate), ms(f.LagP50Ms), ms(f.LagP99Ms), ms(f.LagP999Ms), ms(f.LagMaxMs),
				f.Early, f.Lost, f.Duplicates, f.AfterCancel)
		} else {
			b.WriteString("| – | – | – | – | – | – | – | – | – ")
		}
		heap := "–"
		if res.HeapPerPending >= 0 {
			heap = num(res.HeapPerPending)
		}
		rs := "–"
		if res.Restart != nil {
			rs = fmt.Sprintf("%.2f s", res.Restart.FiringMs/1e3)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", num(res.RSSPerPending), heap, rs)
	}
	b.WriteString("\n")
	if ratios := r.Ratios(); len(ratios) > 0 {
		b.WriteString("Ratios, timerd / other (higher is better for timerd; lag and memory are other / timerd):\n\n")
		b.WriteString("| timerd | vs | ingest | fire rate | lag p99 | RSS per pending |\n|---|---|--:|--:|--:|--:|\n")
		for _, q := range ratios {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", q.Timerd, q.Other, times(q.Ingest), times(q.FireRate), times(q.LagP99), times(q.Memory))
		}
		b.WriteString("\n")
	}
	if goals := r.Goals(); len(goals) > 0 {
		b.WriteString("| goal | this run | verdict |\n|---|---|---|\n")
		for _, g := range goals {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", g.Goal, g.Measure, g.Verdict)
		}
		b.WriteString("\n")
	}
	for _, res := range r.Results {
		if res.IngestCPUPerTimer > 0 || res.FireCPUPerFire > 0 {
			fmt.Fprintf(&b, "- %s: CPU of its server processes: %.1f µs per timer ingested, %.1f µs per fire.\n", res.Contender, res.IngestCPUPerTimer, res.FireCPUPerFire)
		}
		if res.StoreWritesPerTimer > 0 {
			fmt.Fprintf(&b, "- %s wrote %.4f JetStream messages per timer while ingesting (group commit)", res.Contender, res.StoreWritesPerTimer)
			if res.StoreWritesPerFire > 0 {
				fmt.Fprintf(&b, ", and %.4f per fire after (marks, progress, purges; the fire itself not counted)", res.StoreWritesPerFire)
			}
			b.WriteString(".\n")
		}
		if f := res.Fire; f != nil && f.CoreFired > 0 {
			fmt.Fprintf(&b, "- %s, first receipt on a core subscription (before the stream stores the fire; %d fires): lag p50 %s, p99 %s, max %s ms; as stored: p50 %s, p99 %s, max %s ms.\n",
				res.Contender, f.CoreFired, ms(f.CoreLagP50Ms), ms(f.CoreLagP99Ms), ms(f.CoreLagMaxMs), ms(f.LagP50Ms), ms(f.LagP99Ms), ms(f.LagMaxMs))
		}
		for _, n := range res.Notes {
			fmt.Fprintf(&b, "- %s.\n", n)
		}
		if res.Diagnosis != "" {
			fmt.Fprintf(&b, "- %s, at the end (its own stats when fires were missing): `%s`\n", res.Contender, res.Diagnosis)
		}
	}
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(&b, "- %s, first error: `%s`\n", res.Contender, res.FirstError)
		}
	}
	fmt.Fprintf(&b, "\n![fire lag over time](%s)\n\n![throughput](%s)\n", lagSVG, ratesSVG)
	if r.hasCore() {
		fmt.Fprintf(&b, "\n![fire lag, stored and at core receipt](%s)\n", strings.TrimSuffix(lagSVG, "-lag.svg")+"-core.svg")
	}
	return b.String()
}

// writePlacement lists where each contender's server ran and, when the run
// holds the fair single-request pair, how that comparison is made fair
// (server.go says the same at length).
func (r *Report) writePlacement(b *strings.Builder) {
	var lines []string
	for _, res := range r.Results {
		if res.Placement != "" {
			lines = append(lines, fmt.Sprintf("- %s: %s", res.Contender, res.Placement))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "Processes:\n\n%s\n\n", strings.Join(lines, "\n"))
	if r.result("timerd-bin") != nil && r.result("nats-sched-bin") != nil {
		fmt.Fprintf(b, "Single-request ingest, timerd-bin against nats-sched-bin, is like for like: each server is its own OS process built by `go build` "+
			"from this module (nats-server at the version timerd embeds, default options, file storage, 127.0.0.1); the load client is the bench process for both, "+
			"with the same %d requests in flight, the same %d B payloads and the same two client connections (requests, fire observer); "+
			"ingest is timed from the first request to the last reply.\n\n", r.Workload.InFlight, r.Workload.Payload)
	}
	if r.result("js-paced") != nil || r.result("js-paced-bin") != nil {
		b.WriteString("The js-paced floor publishes each timer's fire at its due time from a schedule held in memory (one goroutine, async JetStream publish with acks, " +
			"the fire's four headers) into the same dedup capture stream, read back by the same consumer; its lag is measured as every contender's: stored time minus due time. " +
			"Its ingest and memory are a client's in-memory slice and are not compared.\n\n")
	}
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return commas(int64(v + 0.5))
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return num(v)
}

func times(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", v)
}
