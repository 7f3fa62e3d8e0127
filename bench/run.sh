#!/usr/bin/env bash
# scimd side by side with the peer SCIM servers and the machine's HTTP ceiling, in one go:
#   1. cargo build --release -p scimd
#   2. scimd on a fresh SQLite database, pinned to CPU $PEER_CPUS (1) like the peers, on
#      127.0.0.1:8090; ../shared/tools/bench.sh against it (wrk pinned to CPU 0); scimd stopped;
#      then the same again with the read cache off (--read-cache-entries 0)
#   3. ../shared/tools/run-peers.sh (each peer fresh: compliance + bench.sh), which ends with
#      ../shared/tools/baseline.sh (hello-axum, the ceiling)
#   4. docs/benchmarks.md: req/s, p50, p99 per operation and server; scimd/best peer and
#      scimd/ceiling ratios; date, machine, settings (plus the latest scale-scenario figures)
#   5. bench/mixed.sh: reads between writes in three weightings, scimd and the peers in turn
# Knobs: the tools' BENCH_* variables (BENCH_USERS_N, BENCH_DURATION, BENCH_WARMUP, BENCH_CONNS,
# BENCH_REPEAT, BENCH_CLIENT_CPUS, PEER_CPUS); BENCH_PEERS="scim2-server scimmy ..." to pick peers;
# BENCH_DOC (docs/benchmarks.md). Everything is on loopback and bounded in time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export RUN_OUT="${RUN_OUT:-/tmp/scimbench/run-$(date +%Y%m%d-%H%M%S)}"
DOC="${BENCH_DOC:-$REPO_DIR/docs/benchmarks.md}"
mkdir -p "$RUN_OUT"
build_scimd

DB="$WORK/side-by-side.db"
new_db "$DB" >/dev/null
start_scimd "$DB" 8090
BENCH_OUT="$RUN_OUT/scimd/bench" "$TOOLS/bench.sh" "$SCIMD_BASE" "$SCIMD_TOKEN" scimd | tee "$RUN_OUT/scimd.md"
echo "scimd RSS after the run: $(rss "$SCIMD_PID")" | tee -a "$RUN_OUT/scimd.md"
stop_scimd

# The same without the read cache: what a read costs when its answer must be built.
new_db "$DB" >/dev/null
export SCIMD_READ_CACHE_ENTRIES=0
start_scimd "$DB" 8090
BENCH_OUT="$RUN_OUT/scimd-uncached/bench" "$TOOLS/bench.sh" "$SCIMD_BASE" "$SCIMD_TOKEN" scimd-uncached | tee "$RUN_OUT/scimd-uncached.md"
stop_scimd
unset SCIMD_READ_CACHE_ENTRIES

# shellcheck disable=SC2086
"$TOOLS/run-peers.sh" ${BENCH_PEERS:-} > "$RUN_OUT/peers.log" 2>&1 || log "run-peers.sh reported a failure (see $RUN_OUT/peers.log)"
mkdir -p "$(dirname "$DOC")"
# bench/postgres.sh owns the last section, "## PostgreSQL (bench/postgres.sh, DATE)", and
# bench/mixed.sh the one before it, "## Mixed workloads (bench/mixed.sh, DATE)": both kept.
PG_SECTION="$(sed -n '/^## PostgreSQL (bench\/postgres.sh/,$p' "$DOC" 2>/dev/null || true)"
MIXED_SECTION="$(sed -n '/^## Mixed workloads (bench\/mixed.sh/,/^## PostgreSQL (bench\/postgres.sh/p' "$DOC" 2>/dev/null \
  | sed '/^## PostgreSQL (bench\/postgres.sh/d' || true)"
python3 "$BENCH_DIR/report.py" "$RUN_OUT" "$WORK" > "$DOC"
if [ -n "$MIXED_SECTION" ]; then printf '\n%s\n' "$MIXED_SECTION" >> "$DOC"; fi
if [ -n "$PG_SECTION" ]; then printf '\n%s\n' "$PG_SECTION" >> "$DOC"; fi
log "wrote $DOC (raw output in $RUN_OUT)"
sed -n '/^## Side by side/,/^## Settings/p' "$DOC"
# Reads between writes (BENCH_MIXED=0 to leave the section as it is).
if [ "${BENCH_MIXED:-1}" = 1 ]; then
  RUN_OUT="$RUN_OUT/mixed" BENCH_DOC="$DOC" BENCH_DOC_APPEND=1 "$BENCH_DIR/mixed.sh"
fi
