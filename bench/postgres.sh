#!/usr/bin/env bash
# scimd on PostgreSQL beside scimd on SQLite, in one run, with ../shared/tools/bench.sh:
#   1. SQLite, one instance, direct (the reference of this run)
#   2. PostgreSQL, one instance, direct
#   3. PostgreSQL, one instance behind the load balancer
#   4. PostgreSQL, two instances on one database behind the load balancer, both on the core
#      of instance 1 (the CPU budget of 3)
#   5. the same with the second instance on the other core ($PG_SECOND_CPUS, 0: wrk's)
# One load generator (bench.sh: wrk, $BENCH_CONNS connections) drives every configuration;
# the load balancer is HAProxy in TCP mode, round robin, on 127.0.0.1 (installed from Debian
# when missing), so the two instances share the connections and run every phase together.
# Each PostgreSQL configuration gets a fresh database (same seeding, same phases).
# Placement: scimd instance 1 on CPU $PEER_CPUS (1) like the peers; wrk on CPU 0;
# PostgreSQL and HAProxy unpinned. The machine has 2 cores, so every process shares them:
# the ratios say what this box can do, not what a second machine would add.
# Prints the tables and writes them over the "## PostgreSQL" section of docs/benchmarks.md
# (the last section; bench/run.sh keeps it) with BENCH_DOC_APPEND=1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$REPO_DIR/scripts/services" >/dev/null
OUT="${RUN_OUT:-/tmp/scimbench/pg-$(date +%Y%m%d-%H%M%S)}"
SECOND_CPUS="${PG_SECOND_CPUS-0}"
LB_PORT=8098
PG_DB=scimd_bench_pg
PG_ADMIN="${SCIMD_TEST_POSTGRES_URL%/*}/postgres"
PG="${SCIMD_TEST_POSTGRES_URL%/*}/$PG_DB"
mkdir -p "$OUT"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"

command -v haproxy >/dev/null || {
  log "[setup] installing haproxy via apt"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >&2
}
build_scimd

LB_PID=
stop_lb() {
  if [ -n "$LB_PID" ] && kill -0 "$LB_PID" 2>/dev/null; then
    kill -TERM "$LB_PID"
    wait "$LB_PID" 2>/dev/null || true
  fi
  LB_PID=
}
drop_pg() { psql "$PG_ADMIN" -qtAc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true; }
cleanup() { stop_lb; stop_scimd; drop_pg; }
trap cleanup EXIT

# fresh_pg: a new database with one organisation; sets TOKEN.
fresh_pg() {
  drop_pg
  psql "$PG_ADMIN" -qtAc "CREATE DATABASE $PG_DB" >/dev/null
  local org
  org="$("$SCIMD" org create bench --kind business --database "$PG" 2>/dev/null)"
  TOKEN="$("$SCIMD" token generate --org "$org" --database "$PG" 2>/dev/null)"
}

# start_pg PORT CPUS: scimd on the PostgreSQL database, pinned.
start_pg() {
  SCIMD_LOG=warn taskset -c "$2" "$SCIMD" serve --listen "127.0.0.1:$1" --database "$PG" \
    > "$OUT/scimd-pg-$1.log" 2>&1 &
  SCIMD_PIDS+=("$!")
  local i=0
  until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/scim/v2/ServiceProviderConfig"; do
    i=$((i + 1)); [ "$i" -lt 150 ] || { log "scimd did not start (see $OUT/scimd-pg-$1.log)"; return 1; }
    sleep 0.2
  done
  log "[scimd] PostgreSQL instance on 127.0.0.1:$1 (CPU $2)"
}

# start_lb PORT...: HAProxy on 127.0.0.1:$LB_PORT, TCP mode, round robin over the ports.
start_lb() {
  local cfg="$OUT/haproxy.cfg" port n=0
  {
    printf 'global\n  nbthread 1\n  maxconn 4096\n'
    printf 'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n'
    printf 'frontend scim\n  bind 127.0.0.1:%s\n  default_backend scimd\n' "$LB_PORT"
    printf 'backend scimd\n  balance roundrobin\n'
    for port in "$@"; do n=$((n + 1)); printf '  server s%s 127.0.0.1:%s\n' "$n" "$port"; done
  } > "$cfg"
  haproxy -db -f "$cfg" > "$OUT/haproxy.log" 2>&1 &
  LB_PID=$!
  local i=0
  until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$LB_PORT/scim/v2/ServiceProviderConfig"; do
    i=$((i + 1)); [ "$i" -lt 50 ] || { log "haproxy did not start (see $OUT/haproxy.log)"; return 1; }
    sleep 0.2
  done
  log "[haproxy] 127.0.0.1:$LB_PORT -> $*"
}

# run_bench NAME URL TOKEN: bench.sh into $OUT/NAME.
run_bench() {
  BENCH_OUT="$OUT/$1" "$TOOLS/bench.sh" "$2" "$3" "$1" | tee "$OUT/$1.md"
}

# 1. SQLite, the reference
DB="$WORK/pg-reference.db"
new_db "$DB" >/dev/null
start_scimd "$DB" 8095
run_bench sqlite "$SCIMD_BASE" "$SCIMD_TOKEN"
stop_scimd

# 2. PostgreSQL, one instance, direct
fresh_pg
start_pg 8096 "$SERVER_CPUS"
run_bench pg1 "http://127.0.0.1:8096/scim/v2" "$TOKEN"
stop_scimd

# 3. PostgreSQL, one instance behind HAProxy
fresh_pg
start_pg 8096 "$SERVER_CPUS"
start_lb 8096
run_bench pg1-lb "http://127.0.0.1:$LB_PORT/scim/v2" "$TOKEN"
stop_lb
stop_scimd

# 4, 5. PostgreSQL, two instances behind HAProxy: on one core, then on both
for second in "$SERVER_CPUS" "$SECOND_CPUS"; do
  fresh_pg
  start_pg 8096 "$SERVER_CPUS"
  start_pg 8097 "$second"
  start_lb 8096 8097
  if [ "$second" = "$SERVER_CPUS" ]; then name=pg2-lb; else name=pg2-lb-cores; fi
  run_bench "$name" "http://127.0.0.1:$LB_PORT/scim/v2" "$TOKEN"
  stop_lb
  stop_scimd
done
drop_pg

python3 - "$OUT" "$STARTED" "$SERVER_CPUS" "$SECOND_CPUS" > "$OUT/section.md" <<'PYEOF'
import os, statistics, sys
out, started, cpu1, cpu2 = sys.argv[1:5]
env = lambda k, d: os.environ.get(k, d)
ops = [("get_id", "GET /Users/{id}"), ("filter", 'GET /Users?filter=userName eq "x"'),
       ("patch", "PATCH /Users/{id} (2 ops)"), ("post", "POST /Users")]
configs = [("sqlite", "SQLite, 1 instance"), ("pg1", "PostgreSQL, 1 instance"),
           ("pg1-lb", "PostgreSQL, 1 instance, HAProxy"),
           ("pg2-lb", f"PostgreSQL, 2 instances (CPU {cpu1}), HAProxy"),
           ("pg2-lb-cores", f"PostgreSQL, 2 instances (CPU {cpu1} + {cpu2}), HAProxy")]

def load(name):
    runs = {}
    path = os.path.join(out, name, "results.txt")
    if os.path.exists(path):
        for line in open(path):
            kv = dict(p.split("=", 1) for p in line.split()[1:])
            runs.setdefault(kv["mode"], []).append(kv)
    res = {}
    for mode, rs in runs.items():
        med = lambda k: statistics.median(float(r[k]) for r in rs)
        rps = [float(r["rps"]) for r in rs]
        errs = sum(int(r["http_errors"]) + int(r["socket_errors"]) + int(r["timeouts"]) for r in rs)
        res[mode] = dict(rps=med("rps"), lo=min(rps), hi=max(rps), p50=med("p50_ms"), p99=med("p99_ms"), errs=errs)
    return res

data = {name: load(name) for name, _ in configs}
def rps(name, mode):
    return data[name].get(mode, {}).get("rps")
def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "–"

p = print
p(f"## PostgreSQL (bench/postgres.sh, {started})\n")
p(f"Workload: `../shared/tools/bench.sh` as above — {env('BENCH_USERS_N', '10000')} seeded users, "
  f"wrk -t{env('BENCH_THREADS', '1')} -c{env('BENCH_CONNS', '16')} for {env('BENCH_DURATION', '10s')} "
  f"(warm-up {env('BENCH_WARMUP', '2s')}), median of {env('BENCH_REPEAT', '3')} runs; all five "
  "configurations in one run, one after the other, each PostgreSQL one on a fresh database.")
p(f"One load generator for every configuration; two instances share its connections through "
  f"HAProxy 2.6 (TCP mode, round robin, 127.0.0.1), so both run every phase together.\n")
p(f"**The machine has 2 cores and everything shares them**: scimd (instance 1) pinned to CPU {cpu1}, "
  f"wrk to CPU {env('BENCH_CLIENT_CPUS', '0')}, PostgreSQL 15 and HAProxy unpinned. The second "
  f"instance runs either on CPU {cpu1} too (the same CPU budget as one instance) or on CPU {cpu2}, "
  "where it takes CPU from wrk and PostgreSQL. Neither is what a second machine would add.\n")
p("| operation | SQLite | PG, 1 inst. | PG, 1 inst. + LB | PG, 2 inst. (1 core) + LB | PG, 2 inst. (2 cores) + LB | pg / sqlite | two / one (1 core) | two / one (2 cores) |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for mode, label in ops:
    s, a, al, b, bc = (rps(n, mode) for n, _ in configs)
    cell = lambda v: f"{v:.0f}" if v else "–"
    p(f"| {label} | {cell(s)} | {cell(a)} | {cell(al)} | {cell(b)} | {cell(bc)} | {ratio(a, s)} | "
      f"{ratio(b, al)} | {ratio(bc, al)} |")
p("\nreq/s, medians; LB: HAProxy. pg / sqlite: PostgreSQL, one instance, direct, over SQLite; "
  "two / one: two instances over one, all behind HAProxy.\n")
p("| configuration | operation | req/s (median) | req/s range | p50 ms | p99 ms | errors |")
p("|---|---|---:|---:|---:|---:|---:|")
for name, title in configs:
    for mode, label in ops:
        r = data[name].get(mode)
        if r:
            p(f"| {title} | {label} | {r['rps']:.0f} | {r['lo']:.0f}-{r['hi']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errs']} |")
p(f"\nraw output: `{out}`")
PYEOF
cat "$OUT/section.md"
if [ "${BENCH_DOC_APPEND:-0}" = 1 ]; then
  DOC="${BENCH_DOC:-$REPO_DIR/docs/benchmarks.md}"
  # The PostgreSQL section is the last one: replace it (or add it).
  python3 - "$DOC" "$OUT/section.md" <<'PYEOF'
import sys
doc, section = sys.argv[1], open(sys.argv[2]).read().rstrip() + "\n"
text = open(doc).read()
at = text.find("\n## PostgreSQL")
head = text if at < 0 else text[:at]
open(doc, "w").write(head.rstrip() + "\n\n" + section)
PYEOF
  log "wrote the PostgreSQL section of $DOC"
fi
log "raw output: $OUT"
