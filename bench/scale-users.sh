#!/usr/bin/env bash
# Scale scenario: N (default 1,000,000) users in one organisation, loaded with `scimd import`;
# then `filter=userName eq` and GET /Users/{id} p50/p99 (1 and 16 connections, SCALE_SECONDS
# each), server RSS, database size, load time. Targets: filter p99 < 5 ms, RSS < 200 MB.
#   bench/scale-users.sh [N]      (SCALE_REUSE=1 keeps an existing database of the same N)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N="${1:-1000000}"; DB="$WORK/users-$N.db"; PORT="${SCALE_PORT:-8095}"
[ -x "$SCIMD" ] || build_scimd
if [ "${SCALE_REUSE:-0}" = 1 ] && [ -s "$DB" ]; then
  log "reusing $DB"
else
  new_db "$DB" >/dev/null
  import_users "$DB" "$N" user | tee "$WORK/users-$N.load.txt"
fi
echo "database: $(db_size "$DB") ($DB)"
start_scimd "$DB" "$PORT"
echo "server RSS after start: $(rss "$SCIMD_PID")"
client_pin python3 "$BENCH_DIR/scimload.py" users "$SCIMD_BASE" "$SCIMD_TOKEN" "$DB" --n "$N" --pid "$SCIMD_PID" \
  --json "$WORK/users-$N.json"
echo "server RSS at the end: $(rss "$SCIMD_PID")"
printf '{"load": "%s", "db": "%s", "rss": "%s"}\n' "$(cat "$WORK/users-$N.load.txt" 2>/dev/null)" \
  "$(db_size "$DB")" "$(rss "$SCIMD_PID" | xargs)" > "$WORK/users-$N.meta.json"
