#!/usr/bin/env bash
# scimd on PostgreSQL beside scimd on SQLite, in one run, with ../shared/tools/bench.sh:
#   1. SQLite, one instance (the reference of this run)
#   2. PostgreSQL, one instance
#   3. PostgreSQL, two instances on one database, each driven by its own bench.sh with half the
#      connections, at the same time (no load balancer: the sum of the two is the figure)
# Every scimd is pinned to CPU $PEER_CPUS (1) like the peers; PostgreSQL itself is not pinned.
# Prints the tables; appends them to docs/benchmarks.md with BENCH_DOC_APPEND=1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$REPO_DIR/scripts/services" >/dev/null
OUT="${RUN_OUT:-/tmp/scimbench/pg-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
build_scimd
trap 'stop_scimd; psql "$SCIMD_TEST_POSTGRES_URL" -qtAc "DROP DATABASE IF EXISTS scimd_bench_pg WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

DB="$WORK/pg-reference.db"
new_db "$DB" >/dev/null
start_scimd "$DB" 8095
BENCH_OUT="$OUT/sqlite" "$TOOLS/bench.sh" "$SCIMD_BASE" "$SCIMD_TOKEN" scimd-sqlite | tee "$OUT/sqlite.md"
stop_scimd

psql "$SCIMD_TEST_POSTGRES_URL" -qtAc "DROP DATABASE IF EXISTS scimd_bench_pg WITH (FORCE)" >/dev/null
psql "$SCIMD_TEST_POSTGRES_URL" -qtAc "CREATE DATABASE scimd_bench_pg" >/dev/null
PG="${SCIMD_TEST_POSTGRES_URL%/*}/scimd_bench_pg"
ORG="$("$SCIMD" org create bench --kind business --database "$PG")"
TOKEN="$("$SCIMD" token generate --org "$ORG" --database "$PG")"
start_pg() {
  SCIMD_LOG=warn taskset -c "$SERVER_CPUS" "$SCIMD" serve --listen "127.0.0.1:$1" --database "$PG" \
    > "$WORK/scimd-pg-$1.log" 2>&1 &
  SCIMD_PIDS+=("$!")
  until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/scim/v2/ServiceProviderConfig"; do sleep 0.2; done
}
start_pg 8096
BENCH_OUT="$OUT/pg1" "$TOOLS/bench.sh" "http://127.0.0.1:8096/scim/v2" "$TOKEN" scimd-postgres | tee "$OUT/pg1.md"
start_pg 8097
HALF=$(( ${BENCH_CONNS:-16} / 2 ))
BENCH_CONNS=$HALF BENCH_OUT="$OUT/pg2a" "$TOOLS/bench.sh" "http://127.0.0.1:8096/scim/v2" "$TOKEN" scimd-postgres-a > "$OUT/pg2a.md" &
A=$!
BENCH_CONNS=$HALF BENCH_OUT="$OUT/pg2b" "$TOOLS/bench.sh" "http://127.0.0.1:8097/scim/v2" "$TOKEN" scimd-postgres-b > "$OUT/pg2b.md" &
B=$!
wait "$A" "$B"
cat "$OUT/pg2a.md" "$OUT/pg2b.md"
if [ "${BENCH_DOC_APPEND:-0}" = 1 ]; then
  {
    echo
    echo "## PostgreSQL (bench/postgres.sh, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Same tool and settings as above unless noted: BENCH_REPEAT=${BENCH_REPEAT:-3}, BENCH_DURATION=${BENCH_DURATION:-10s}."
    echo "Each scimd pinned to CPU $SERVER_CPUS; PostgreSQL 15 on the same 2 cores, unpinned."
    echo "Two instances: two bench.sh runs at once, $HALF connections each, one per instance; add their req/s."
    echo
    echo "### SQLite, one instance (reference of this run)"; sed -n '/^|/p' "$OUT/sqlite.md"
    echo; echo "### PostgreSQL, one instance"; sed -n '/^|/p' "$OUT/pg1.md"
    echo; echo "### PostgreSQL, two instances: instance A"; sed -n '/^|/p' "$OUT/pg2a.md"
    echo; echo "### PostgreSQL, two instances: instance B"; sed -n '/^|/p' "$OUT/pg2b.md"
  } >> "${BENCH_DOC:-$REPO_DIR/docs/benchmarks.md}"
fi
