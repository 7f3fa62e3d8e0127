#!/usr/bin/env bash
# Scale scenario: a group with M (default 100,000) members; PATCH add one member, PATCH remove
# one member, GET with excludedAttributes=members: p50/p99 (1 connection, SCALE_SECONDS each).
# Target: add / remove p99 < 5 ms.
#   bench/scale-group.sh [M]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
M="${1:-100000}"; DB="$WORK/group-$M.db"; PORT="${SCALE_PORT:-8096}"
[ -x "$SCIMD" ] || build_scimd
new_db "$DB" >/dev/null
import_users "$DB" "$((M + 5000))" member
start_scimd "$DB" "$PORT"
client_pin python3 "$BENCH_DIR/scimload.py" group "$SCIMD_BASE" "$SCIMD_TOKEN" "$DB" --members "$M" \
  --json "$WORK/group-$M.json"
echo "server RSS at the end: $(rss "$SCIMD_PID"); database $(db_size "$DB")"
