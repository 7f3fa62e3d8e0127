#!/usr/bin/env bash
# scimd on PostgreSQL beside scimd on SQLite, in one run, with ../shared/tools/bench.sh:
#   sqlite      SQLite, one instance, direct (the reference of this run)
#   sqlite-uncached  the same with the read cache off (SCIMD_READ_CACHE_ENTRIES=0): what
#               PostgreSQL, which has no read cache, is held to (0.5x)
#   pg1-before  with PG_BEFORE_BIN=<an older scimd>: PostgreSQL, one instance, that build
#   pg1         PostgreSQL, one instance, direct
#   pg1-lb      PostgreSQL, one instance behind the load balancer
#   pg2-lb      PostgreSQL, two instances on one database behind the load balancer, both on
#               the core of instance 1 (the CPU budget of pg1-lb)
#   pg2-lb-cores  the same with the second instance on the other core ($PG_SECOND_CPUS, 0)
# One load generator (bench.sh: wrk, $BENCH_CONNS connections) drives every configuration;
# the load balancer is HAProxy in TCP mode, round robin, on 127.0.0.1 (installed from Debian
# when missing), so two instances share the connections and run every phase together.
# Every configuration is set up first (each PostgreSQL one on its own new database), then
# they take turns: $PG_ROUNDS rounds (3), each running bench.sh once (1 run per operation)
# on every configuration, so that a noisy minute on this shared machine hits them alike;
# the tables give medians over the rounds.
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
ROUNDS="${PG_ROUNDS:-3}"
PG_ADMIN="${SCIMD_TEST_POSTGRES_URL%/*}/postgres"
PG_BASE="${SCIMD_TEST_POSTGRES_URL%/*}"
DATABASES=(scimd_bench_pg1 scimd_bench_pg1_lb scimd_bench_pg2 scimd_bench_pg2_cores scimd_bench_pg1_before)
CONFIGS=(sqlite sqlite-uncached pg1 pg1-lb pg2-lb pg2-lb-cores)
mkdir -p "$OUT"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"

command -v haproxy >/dev/null || {
  log "[setup] installing haproxy via apt"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >&2
}
build_scimd

LB_PIDS=()
stop_lbs() {
  local pid
  for pid in "${LB_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  done
  LB_PIDS=()
}
drop_dbs() {
  local db
  for db in "${DATABASES[@]}"; do
    psql "$PG_ADMIN" -qtAc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
cleanup() { stop_lbs; stop_scimd; drop_dbs; }
trap cleanup EXIT

# new_pg DB: a new database with one organisation; prints a token.
new_pg() {
  psql "$PG_ADMIN" -qtAc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 || true
  psql "$PG_ADMIN" -qtAc "CREATE DATABASE $1" >/dev/null
  local org
  org="$("$SCIMD" org create bench --kind business --database "$PG_BASE/$1" 2>/dev/null)"
  "$SCIMD" token generate --org "$org" --database "$PG_BASE/$1" 2>/dev/null
}

# wait_up URL LOGFILE
wait_up() {
  local i=0
  until curl -s -o /dev/null --max-time 1 "$1/scim/v2/ServiceProviderConfig"; do
    i=$((i + 1)); [ "$i" -lt 150 ] || { log "$1 did not come up (see $2)"; return 1; }
    sleep 0.2
  done
}

# start_pg DB PORT CPUS: scimd on a PostgreSQL database, pinned.
start_pg() {
  SCIMD_LOG=warn taskset -c "$3" "$SCIMD" serve --listen "127.0.0.1:$2" --database "$PG_BASE/$1" \
    > "$OUT/scimd-$2.log" 2>&1 &
  SCIMD_PIDS+=("$!")
  wait_up "http://127.0.0.1:$2" "$OUT/scimd-$2.log"
  log "[scimd] PostgreSQL $1 on 127.0.0.1:$2 (CPU $3)"
}

# start_lb PORT BACKEND_PORT...: HAProxy on 127.0.0.1:PORT, TCP mode, round robin.
start_lb() {
  local port="$1" cfg="$OUT/haproxy-$1.cfg" b n=0
  shift
  {
    printf 'global\n  nbthread 1\n  maxconn 4096\n'
    printf 'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n'
    printf 'frontend scim\n  bind 127.0.0.1:%s\n  default_backend scimd\n' "$port"
    printf 'backend scimd\n  balance roundrobin\n'
    for b in "$@"; do n=$((n + 1)); printf '  server s%s 127.0.0.1:%s\n' "$n" "$b"; done
  } > "$cfg"
  haproxy -db -f "$cfg" > "$OUT/haproxy-$port.log" 2>&1 &
  LB_PIDS+=("$!")
  wait_up "http://127.0.0.1:$port" "$OUT/haproxy-$port.log"
  log "[haproxy] 127.0.0.1:$port -> $*"
}

# Set-up: every configuration, its URL and token.
declare -A URL TOK
DB="$WORK/pg-reference.db"
new_db "$DB" >/dev/null
start_scimd "$DB" 8095
URL[sqlite]="$SCIMD_BASE"; TOK[sqlite]="$SCIMD_TOKEN"
DB="$WORK/pg-reference-uncached.db"
new_db "$DB" >/dev/null
SCIMD_READ_CACHE_ENTRIES=0 start_scimd "$DB" 8094
URL[sqlite-uncached]="$SCIMD_BASE"; TOK[sqlite-uncached]="$SCIMD_TOKEN"

if [ -n "${PG_BEFORE_BIN:-}" ]; then
  AFTER_BIN="$SCIMD"; SCIMD="$PG_BEFORE_BIN"
  TOK[pg1-before]="$(new_pg scimd_bench_pg1_before)"
  start_pg scimd_bench_pg1_before 8496 "$SERVER_CPUS"
  URL[pg1-before]="http://127.0.0.1:8496/scim/v2"
  SCIMD="$AFTER_BIN"
  CONFIGS+=(pg1-before)
fi

TOK[pg1]="$(new_pg scimd_bench_pg1)"
start_pg scimd_bench_pg1 8096 "$SERVER_CPUS"
URL[pg1]="http://127.0.0.1:8096/scim/v2"

TOK[pg1-lb]="$(new_pg scimd_bench_pg1_lb)"
start_pg scimd_bench_pg1_lb 8196 "$SERVER_CPUS"
start_lb 8098 8196
URL[pg1-lb]="http://127.0.0.1:8098/scim/v2"

TOK[pg2-lb]="$(new_pg scimd_bench_pg2)"
start_pg scimd_bench_pg2 8296 "$SERVER_CPUS"
start_pg scimd_bench_pg2 8297 "$SERVER_CPUS"
start_lb 8099 8296 8297
URL[pg2-lb]="http://127.0.0.1:8099/scim/v2"

TOK[pg2-lb-cores]="$(new_pg scimd_bench_pg2_cores)"
start_pg scimd_bench_pg2_cores 8396 "$SERVER_CPUS"
start_pg scimd_bench_pg2_cores 8397 "$SECOND_CPUS"
start_lb 8100 8396 8397
URL[pg2-lb-cores]="http://127.0.0.1:8100/scim/v2"

# The rounds: every configuration once per round, in the same order.
for round in $(seq "$ROUNDS"); do
  for name in "${CONFIGS[@]}"; do
    log "[round $round/$ROUNDS] $name"
    BENCH_REPEAT=1 BENCH_OUT="$OUT/$name-r$round" "$TOOLS/bench.sh" "${URL[$name]}" "${TOK[$name]}" "$name" \
      > "$OUT/$name-r$round.md"
    sed "s/^RESULT /RESULT round=$round /" "$OUT/$name-r$round/results.txt" >> "$OUT/$name.results"
  done
done
stop_lbs
stop_scimd
drop_dbs

python3 - "$OUT" "$STARTED" "$SERVER_CPUS" "$SECOND_CPUS" "$ROUNDS" > "$OUT/section.md" <<'PYEOF'
import os, statistics, sys
out, started, cpu1, cpu2, rounds = sys.argv[1:6]
env = lambda k, d: os.environ.get(k, d)
ops = [("get_id", "GET /Users/{id}"), ("filter", 'GET /Users?filter=userName eq "x"'),
       ("patch", "PATCH /Users/{id} (2 ops)"), ("post", "POST /Users")]
configs = [("sqlite", "SQLite, 1 instance"), ("sqlite-uncached", "SQLite, 1 instance, read cache off"),
           ("pg1", "PostgreSQL, 1 instance"),
           ("pg1-lb", "PostgreSQL, 1 instance, HAProxy"),
           ("pg2-lb", f"PostgreSQL, 2 instances (CPU {cpu1}), HAProxy"),
           ("pg2-lb-cores", f"PostgreSQL, 2 instances (CPU {cpu1} + {cpu2}), HAProxy"),
           ("pg1-before", "PostgreSQL, 1 instance, build before (PG_BEFORE_BIN)")]

def load(name):
    runs = {}
    path = os.path.join(out, name + ".results")
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
  f"(warm-up {env('BENCH_WARMUP', '2s')}). Every configuration in one run, each PostgreSQL one on "
  f"its own new database; they take turns, {rounds} rounds of one bench.sh each, and the figures are "
  f"medians over the rounds (a noisy minute on this shared machine then hits every configuration).")
p(f"One load generator for every configuration; two instances share its connections through "
  f"HAProxy 2.6 (TCP mode, round robin, 127.0.0.1), so both run every phase together.\n")
p(f"**The machine has 2 cores and everything shares them**: scimd (instance 1) pinned to CPU {cpu1}, "
  f"wrk to CPU {env('BENCH_CLIENT_CPUS', '0')}, PostgreSQL 15 and HAProxy unpinned. The second "
  f"instance runs either on CPU {cpu1} too (the same CPU budget as one instance) or on CPU {cpu2}, "
  "where it takes CPU from wrk and PostgreSQL. Neither is what a second machine would add.\n")
p("| operation | SQLite | SQLite, no read cache | PG, 1 inst. | PG, 1 inst. + LB | PG, 2 inst. (1 core) + LB | PG, 2 inst. (2 cores) + LB | pg / sqlite | pg / sqlite without its cache | two / one (1 core) | two / one (2 cores) | pg, this build / build before |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for mode, label in ops:
    s, su, a, al, b, bc, before = (rps(n, mode) for n, _ in configs)
    cell = lambda v: f"{v:.0f}" if v else "–"
    p(f"| {label} | {cell(s)} | {cell(su)} | {cell(a)} | {cell(al)} | {cell(b)} | {cell(bc)} | {ratio(a, s)} | "
      f"{ratio(a, su)} | {ratio(b, al)} | {ratio(bc, al)} | {ratio(a, before)} |")
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
at = text.find("\n## PostgreSQL (bench/postgres.sh")
head = text if at < 0 else text[:at]
open(doc, "w").write(head.rstrip() + "\n\n" + section)
PYEOF
  log "wrote the PostgreSQL section of $DOC"
fi
log "raw output: $OUT"
