#!/usr/bin/env bash
# Updates of existing users, as identity providers send them, for two scimd builds side by
# side: A B then B A for $ROUNDS rounds (2), each on a fresh SQLite database seeded with
# $BENCH_USERS_N (10,000) users by ../shared/tools/seed.py, then wrk (16 connections, 10 s)
# with bench/updates.lua for each shape: `attributes` (active, title, department: nothing the
# account search holds) and `rename` (displayName and family name). Prints req/s, p50, p99
# and B/A per shape and round.
#   bench/updates.sh OLD_BINARY NEW_BINARY
# scimd pinned to CPU $PEER_CPUS (1), wrk to CPU 0; loopback; every run bounded by -d.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/updates.sh OLD_BINARY NEW_BINARY" >&2; exit 2; }
export SCIMD_BIN="$1"
source "$(dirname "$0")/lib.sh"
source "$TOOLS/lib/common.sh"
ensure_venv; ensure_wrk
A="$1"; B="$2"; ROUNDS="${ROUNDS:-2}"; N="${BENCH_USERS_N:-10000}"
DUR="${BENCH_DURATION:-10s}"; CONNS="${BENCH_CONNS:-16}"
OUT="${RUN_OUT:-/tmp/scimbench/updates-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"

# run LABEL BINARY: one database, seeded, then each shape once.
run() {
  local label="$1" db="$WORK/updates.db" shape
  SCIMD="$2"
  new_db "$db" >/dev/null
  start_scimd "$db" 8090
  "$SCIMTOOLS_VENV/bin/python" "$TOOLS/seed.py" "$SCIMD_BASE" "$SCIMD_TOKEN" -n "$N" \
    --out "$OUT/$label.users.tsv" > /dev/null
  for shape in attributes rename; do
    UPDATE_SHAPE="$shape" BENCH_USERS="$OUT/$label.users.tsv" BENCH_TOKEN="$SCIMD_TOKEN" \
      client_pin wrk -t1 -c"$CONNS" -d"$DUR" -s "$BENCH_DIR/updates.lua" "http://127.0.0.1:8090" \
      | grep '^RESULT' | sed "s/^RESULT/RESULT label=$label/" >> "$OUT/results.txt"
  done
  stop_scimd
  SCIMD_PIDS=()
}

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then run "a$round" "$A"; run "b$round" "$B"
  else run "b$round" "$B"; run "a$round" "$A"; fi
done

python3 - "$OUT/results.txt" "$ROUNDS" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split()[1:])
    rows[(kv["label"], kv["shape"])] = kv
print("| shape | round | A req/s | B req/s | B/A | A p50/p99 ms | B p50/p99 ms |")
print("|---|---:|---:|---:|---:|---|---|")
for shape in ("attributes", "rename"):
    for r in range(1, int(sys.argv[2]) + 1):
        a, b = rows.get((f"a{r}", shape)), rows.get((f"b{r}", shape))
        if a and b:
            print(f"| {shape} | {r} | {float(a['rps']):,.0f} | {float(b['rps']):,.0f} | "
                  f"{float(b['rps']) / float(a['rps']):.2f} | {float(a['p50_ms']):.2f}/{float(a['p99_ms']):.2f} | "
                  f"{float(b['p50_ms']):.2f}/{float(b['p99_ms']):.2f} |")
PY
log "raw output: $OUT"
