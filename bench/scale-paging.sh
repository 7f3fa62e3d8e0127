#!/usr/bin/env bash
# Scale scenario: paging through N (default 1,000,000) users, pages of SCALE_PAGE_SIZE (1000):
# a full walk with RFC 9865 cursors, then startIndex pages at the start and at the end; time
# per page of the first and last 20 pages. Target: the last cursor page <= 2x the first.
# Reuses the database of bench/scale-users.sh for the same N when there is one.
#   bench/scale-paging.sh [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N="${1:-1000000}"; DB="$WORK/users-$N.db"; PORT="${SCALE_PORT:-8098}"
[ -x "$SCIMD" ] || build_scimd
if [ -s "$DB" ]; then log "reusing $DB"; else new_db "$DB" >/dev/null; import_users "$DB" "$N" user; fi
start_scimd "$DB" "$PORT"
client_pin python3 "$BENCH_DIR/scimload.py" paging "$SCIMD_BASE" "$SCIMD_TOKEN" --n "$N" \
  --page-size "${SCALE_PAGE_SIZE:-1000}" --max-seconds "${SCALE_MAX_SECONDS:-300}" --json "$WORK/paging-$N.json"
echo "server RSS at the end: $(rss "$SCIMD_PID")"
