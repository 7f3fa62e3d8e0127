#!/usr/bin/env bash
# Scale scenario: an Entra-style initial provisioning cycle on an empty organisation: for each
# of N (default 100,000) users, GET /Users?filter=userName eq "..." (0 hits) then POST /Users,
# 16 in parallel; total wall time. Target: < 60 s. Bounded by SCALE_MAX_SECONDS (300).
#   bench/scale-entra.sh [N]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N="${1:-100000}"; DB="$WORK/entra.db"; PORT="${SCALE_PORT:-8097}"
[ -x "$SCIMD" ] || build_scimd
new_db "$DB" >/dev/null
start_scimd "$DB" "$PORT"
client_pin python3 "$BENCH_DIR/scimload.py" entra "$SCIMD_BASE" "$SCIMD_TOKEN" --n "$N" --conns 16 \
  --max-seconds "${SCALE_MAX_SECONDS:-300}" --json "$WORK/entra.json"
echo "server RSS at the end: $(rss "$SCIMD_PID"); database $(db_size "$DB")"
