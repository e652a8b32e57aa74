#!/usr/bin/env bash
# What the ingest-only goal asks of the runtime: the plain JS peer (../shared/peers/js-stripe-worker,
# full pipeline: verify, KV get, D1 insert, KV put, two queue sends, consumer inserting each step)
# against a copy of it that makes no queue sends ("floor": verify, KV get, D1 insert, KV put — the
# I/O edgehooks' ingest-only run makes, in plain JS with the official SDK). Same load client,
# same machine, alternating per repetition; both served by Miniflare (MODE=mf). If the floor
# itself is not 1.5x the peer, no implementation with that I/O reaches the goal on this runtime.
# FLOOR=full makes the copy the full-pipeline floor instead (bench/full-floor.mjs: the peer's
# ingest, and a consumer calling the downstream fake once per step and recording it in D1): if it
# does not reach the peer's req/s at c=32, neither can edgehooks' full pipeline, which does more.
#   bench/peer-floor.sh            (CONCS="1 32" N=1000 REPS=3; the copy lives in target/peer-floor)
#   FLOOR=full bench/peer-floor.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
peer=${PEERS_DIR:-$ROOT/../shared/peers}/js-stripe-worker
[ -f "$peer/src/index.js" ] || { echo "no peer at $peer (set PEERS_DIR)" >&2; exit 1; }
peer=$(cd "$peer" && pwd)
floor=$ROOT/target/peer-floor
CONCS=${CONCS:-1 32}; N=${N:-1000}; REPS=${REPS:-3}; PORT=${PORT:-8797}
OUT=${OUT:-$ROOT/target/peer-floor-runs/$(date -u +%Y%m%dT%H%M%SZ)}; mkdir -p "$OUT"
export WRANGLER_SEND_METRICS=false
[ -d "$peer/node_modules/wrangler" ] || (cd "$peer" && npm ci --no-audit --no-fund >/dev/null 2>&1)

rm -rf "$floor" && mkdir -p "$floor"
(cd "$peer" && tar --exclude=node_modules --exclude=.wrangler --exclude=dist -cf - .) | (cd "$floor" && tar -xf -)
ln -s "$peer/node_modules" "$floor/node_modules"
if [ "${FLOOR:-ingest}" = full ]; then
  node "$ROOT/bench/full-floor.mjs" "$floor" "$ROOT"
else
  sed -i 's/^const STEPS = \[.*\];/const STEPS = []; \/\/ floor: no queue sends/' "$floor/src/index.js"
  grep -q '^const STEPS = \[\];' "$floor/src/index.js" || { echo "could not remove the peer's queue sends" >&2; exit 1; }
fi

secret=$(sed -n 's/^STRIPE_WEBHOOK_SECRET=//p' "$peer/.dev.vars")
for c in $CONCS; do
  for r in $(seq 1 "$REPS"); do
    order="peer floor"; [ $((r % 2)) = 0 ] && order="floor peer"
    for who in $order; do
      dir=$peer; [ "$who" = floor ] && dir=$floor
      pid=$(cd "$dir" && MODE=mf PORT=$PORT FRESH=1 LOG_FILE="$OUT/$who.log" ./run.sh 2>>"$OUT/run.log")
      sleep 2
      node "$peer/gen-cases.mjs" --count $((N + 100)) --secret "$secret" --prefix "evt_${who}${c}r${r}" --out "$OUT/cases.ndjson" >/dev/null 2>&1
      node "$peer/load.mjs" --target "http://127.0.0.1:$PORT/webhooks/stripe" --cases "$OUT/cases.ndjson" --concurrency "$c" \
        --warmup 100 --count "$N" --watch-pids "$("$peer/procs.sh" "$pid")" --quiet > "$OUT/$who-c$c-r$r.json"
      (cd "$dir" && PORT=$PORT ./stop.sh >/dev/null 2>&1) || true
      node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
        console.log(`${process.argv[2].padEnd(6)} c=${process.argv[3].padEnd(3)} ${String(j.rps).padStart(7)} req/s  p50 ${j.latency_ms.p50} ms  p99 ${j.latency_ms.p99} ms  cpu ${j.server_cpu_ms_per_req} ms/req`)' \
        "$OUT/$who-c$c-r$r.json" "$who" "$c"
    done
  done
done
