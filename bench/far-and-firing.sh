#!/usr/bin/env bash
# far-and-firing.sh TIMERD_BINARY [FAR] [FIRING] [SAMPLES]: one node (the binary with
# its embedded server, fresh data) gets FAR one-shots due in 30 days
# (default 900000), then FIRING one-shots due at 1,000 a second from 30 s
# on (default 200000), both through `timerd batch`. Every 10 s, SAMPLES times (default 18), it
# prints the process's CPU (share of one core), RSS and timerd's fire and
# store-write counters. docs/benchmarks.md, "Compaction and purges with far
# timers", was measured with it. Ports 14222 and 18080 on 127.0.0.1.
set -euo pipefail
bin=$(realpath "$1"); far=${2:-900000}; firing=${3:-200000}; samples=${4:-18}
dir=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
awk -v n="$far" 'BEGIN { p = sprintf("%064d", 0); for (i = 0; i < n; i++)
  printf "{\"id\":\"o-%08d\",\"subject\":\"orders.timeout\",\"in\":\"%dh\",\"data\":\"%s\"}\n", i, 720 + i % 24, p }' > "$dir/far.ndjson"
awk -v n="$firing" 'BEGIN { p = sprintf("%064d", 0); for (i = 0; i < n; i++)
  printf "{\"id\":\"f-%08d\",\"subject\":\"fires.x\",\"in\":\"%dms\",\"data\":\"%s\"}\n", i, 30000 + i, p }' > "$dir/firing.ndjson"
"$bin" serve --data "$dir/data" --listen 127.0.0.1:14222 --http 127.0.0.1:18080 --log-level warn 2>"$dir/serve.log" &
pid=$!
sleep 3
t0=$(date +%s)
"$bin" batch -s nats://127.0.0.1:14222 "$dir/far.ndjson" >/dev/null
"$bin" batch -s nats://127.0.0.1:14222 "$dir/firing.ndjson" >/dev/null
echo "ingest $(( $(date +%s) - t0 )) s"
metrics() { curl -s http://127.0.0.1:18080/metrics | awk '/^timerd_(store_writes_total|store_records|fires_total|fire_lag_p99_seconds) / { printf "%s=%s ", $1, $2 }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
prev=$(ticks)
for _ in $(seq 1 "$samples"); do
  sleep 10
  cur=$(ticks)
  echo "t+$(( $(date +%s) - t0 ))s cpu=$(( (cur - prev) / 10 ))% rss=$(( $(ps -o rss= -p "$pid") / 1024 ))MiB $(metrics)"
  prev=$cur
done
