# Shared helpers for bench/*.sh. Source it; do not run it.
# Every server started here binds 127.0.0.1, is pinned like the peers (taskset -c $PEER_CPUS,
# default 1) and is stopped by its PID when the script exits.
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
TOOLS="${SCIM_TOOLS:-$REPO_DIR/../shared/tools}"
TARGET="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
# SCIMD_BIN: another scimd binary to measure (an older build, for before / after); no build then.
SCIMD="${SCIMD_BIN:-$TARGET/release/scimd}"
WORK="${SCALE_WORK:-/tmp/scimd-bench}"
SERVER_CPUS="${PEER_CPUS:-1}"
CLIENT_CPUS="${BENCH_CLIENT_CPUS-0}"
mkdir -p "$WORK"
# The per-token rate limit (default 1,000 req/s) guards against a runaway client; a benchmark
# is one on purpose, measuring what the server can do, so every scimd started here runs without.
export SCIMD_RATE_LIMIT_PER_TOKEN=0
SCIMD_PIDS=()

log() { printf '%s\n' "$*" >&2; }

build_scimd() {
  if [ -n "${SCIMD_BIN:-}" ]; then log "[build] skipped: SCIMD_BIN=$SCIMD_BIN"; return 0; fi
  log "[build] cargo build --release -p scimd"
  (cd "$REPO_DIR" && cargo build --release -p scimd >&2)
}

# client_pin CMD...: runs a load client pinned to the client CPU (none if BENCH_CLIENT_CPUS="").
client_pin() {
  if [ -n "$CLIENT_CPUS" ] && command -v taskset >/dev/null; then taskset -c "$CLIENT_CPUS" "$@"; else "$@"; fi
}

# new_db PATH: removes the database and its WAL, creates an organisation; prints the org id.
new_db() {
  rm -f "$1" "$1-wal" "$1-shm" "$1-token-epoch" "$1-data-epoch" "$1.token"
  "$SCIMD" org create bench --kind business --database "sqlite://$1"
}

# org_of PATH: the first organisation's id.
org_of() { "$SCIMD" org list --database "sqlite://$1" | head -1 | cut -f1; }

# start_scimd DB PORT: starts the server pinned; sets SCIMD_PID, SCIMD_BASE, SCIMD_TOKEN.
start_scimd() {
  local db="$1" port="$2" org
  org="$(org_of "$db")"
  [ -n "$org" ] || org="$(new_db "$db")"
  # One token per database, kept beside it (an organisation holds only a few live tokens).
  if [ -s "$db.token" ]; then
    SCIMD_TOKEN="$(cat "$db.token")"
  else
    SCIMD_TOKEN="$("$SCIMD" token generate --org "$org" --database "sqlite://$db")"
    printf '%s\n' "$SCIMD_TOKEN" > "$db.token"
  fi
  SCIMD_LOG=warn taskset -c "$SERVER_CPUS" "$SCIMD" serve --listen "127.0.0.1:$port" \
    --database "sqlite://$db" > "$WORK/scimd-$port.log" 2>&1 &
  SCIMD_PID=$!
  SCIMD_PIDS+=("$SCIMD_PID")
  SCIMD_BASE="http://127.0.0.1:$port/scim/v2"
  local i=0
  until curl -s -o /dev/null --max-time 1 "$SCIMD_BASE/ServiceProviderConfig"; do
    i=$((i + 1)); [ "$i" -lt 150 ] || { log "scimd did not start (see $WORK/scimd-$port.log)"; return 1; }
    kill -0 "$SCIMD_PID" 2>/dev/null || { log "scimd exited (see $WORK/scimd-$port.log)"; return 1; }
    sleep 0.2
  done
  log "[scimd] pid $SCIMD_PID at $SCIMD_BASE (CPU $SERVER_CPUS), db $db"
}

stop_scimd() {
  local pid
  for pid in "${SCIMD_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
  done
  SCIMD_PIDS=()
}
trap stop_scimd EXIT

# db_size PATH: database plus WAL, human-readable.
db_size() { du -ch "$1" "$1-wal" 2>/dev/null | tail -1 | cut -f1; }

# rss PID: resident and peak memory.
rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$1/status"; echo; }

# import_users DB N PREFIX: `scimd import --generate`, timed; prints the figure.
import_users() {
  local db="$1" n="$2" prefix="${3:-user}" org t0 t1
  org="$(org_of "$db")"
  t0=$(date +%s.%N)
  "$SCIMD" import --org "$org" --generate "$n" --prefix "$prefix" --database "sqlite://$db"
  t1=$(date +%s.%N)
  printf 'load: %s users through scimd import in %.1fs; database %s\n' "$n" "$(echo "$t1 - $t0" | bc)" "$(db_size "$db")"
}
