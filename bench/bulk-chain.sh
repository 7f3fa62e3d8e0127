#!/usr/bin/env bash
# Bulk bulkId resolution: one POST /Bulk of N (default 1,000, the bulk maximum) POST /Groups
# operations, each group a member of the next through bulkId, sent in dependency order and
# in reverse order (every reference then points at a later operation, the worst case for the
# resolution); each on a fresh database, R (default 3) times; prints each wall time.
#   bench/bulk-chain.sh [N] [R]
# SCIMD_BIN=/path/to/older/scimd measures another build (before / after).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N="${1:-1000}"; R="${2:-3}"; PORT="${SCALE_PORT:-8097}"
[ -x "$SCIMD" ] || build_scimd
for order in forward reverse; do
  body="$WORK/bulk-chain-$order-$N.json"
  python3 - "$N" "$order" > "$body" <<'PY'
import json, sys
n, order = int(sys.argv[1]), sys.argv[2]
def op(k):
    members = [{"type": "Group", "value": f"bulkId:g{k - 1}"}] if k else []
    return {"method": "POST", "path": "/Groups", "bulkId": f"g{k}",
            "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                     "displayName": f"Chain {k:04}", "members": members}}
ks = range(n) if order == "forward" else range(n - 1, -1, -1)
print(json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                  "Operations": [op(k) for k in ks]}))
PY
  for run in $(seq "$R"); do
    DB="$WORK/bulk-chain.db"
    new_db "$DB" >/dev/null
    start_scimd "$DB" "$PORT"
    out="$(curl -s -o "$WORK/bulk-chain.out" -w '%{http_code} %{time_total}' \
      -H "Authorization: Bearer $SCIMD_TOKEN" -H 'Content-Type: application/scim+json' \
      --data-binary "@$body" "$SCIMD_BASE/Bulk")"
    created="$(grep -o '"status":"201"' "$WORK/bulk-chain.out" | wc -l)"
    printf '%s order, %s operations (%s bytes), run %s: HTTP %s in %ss, %s created\n' \
      "$order" "$N" "$(stat -c %s "$body")" "$run" "${out% *}" "${out#* }" "$created"
    stop_scimd
  done
done
