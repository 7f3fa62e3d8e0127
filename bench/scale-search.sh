#!/usr/bin/env bash
# Account search at scale: N (default 1,000,000) realistic accounts in one organisation and
# N_B (default 100,000) in a second, on SQLite and on PostgreSQL; then SEARCH_QUERIES (300)
# searches of each organisation (family and given names, partial e-mails, userNames, no
# match) through GET /api/v1/accounts?search= (the directory service call of the console's
# Accounts page), one at a time: p50/p99 per kind and overall. "Before" is the statement the
# search ran before the index (a LIKE over the documents), timed on the same database on a
# few of the same queries. Target: p99 < 50 ms at 1M.
#   bench/scale-search.sh [N] [N_B]   (SEARCH_BACKENDS="sqlite postgres", SEARCH_REUSE=1)
# Everything listens on 127.0.0.1; every request has a timeout; the script stops by itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$REPO_DIR/scripts/services" >/dev/null
N="${1:-1000000}"; NB="${2:-100000}"; Q="${SEARCH_QUERIES:-300}"
BACKENDS="${SEARCH_BACKENDS:-sqlite postgres}"
PG_BASE="${SCIMD_TEST_POSTGRES_URL%/*}"
PORT="${SCALE_PORT:-8097}"
OUT="$WORK/search-$N"; mkdir -p "$OUT"
PW="$OUT/password"; printf 'bench-search-password\n' > "$PW"
[ -x "$SCIMD" ] || build_scimd
[ -s "$OUT/a.jsonl" ] || python3 "$BENCH_DIR/searchload.py" gen "$N" 1 a.example > "$OUT/a.jsonl"
[ -s "$OUT/b.jsonl" ] || python3 "$BENCH_DIR/searchload.py" gen "$NB" 2 b.example > "$OUT/b.jsonl"

# before URL ORG N SEED DOMAIN: the pre-index statement on 10 of the queries, as JSON.
before() {
  python3 - "$@" <<'PY'
import json, subprocess, sys, time, sqlite3
sys.path.insert(0, sys.argv[6]); import searchload as s
url, org, n, seed, domain = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
qs = s.queries(n, seed, domain, 10)
times = []
for _, text in qs:
    pat = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if url.startswith("sqlite://"):
        c = sqlite3.connect(f"file:{url[9:]}?mode=ro", uri=True)
        c.create_function("scim_lower", 1, lambda x: None if x is None else str(x).lower())
        f = ["r.name_ci"] + [f"scim_lower(json_extract(r.doc, '$.{p}'))" for p in ("displayName", "name.givenName", "name.familyName")]
        where = " OR ".join(f"{x} LIKE ? ESCAPE '\\'" for x in f)
        t0 = time.perf_counter()
        c.execute(f"SELECT COUNT(*) FROM resources r WHERE r.org_id = ? AND r.kind = 0 AND ({where})", [bytes.fromhex(org.replace('-', ''))] + [pat] * 4).fetchone()
        c.execute(f"SELECT r.seq FROM resources r WHERE r.org_id = ? AND r.kind = 0 AND ({where}) ORDER BY r.seq LIMIT 51", [bytes.fromhex(org.replace('-', ''))] + [pat] * 4).fetchall()
        times.append((time.perf_counter() - t0) * 1000)
    else:
        f = ["r.name_ci"] + [f"scim_fold(r.doc #>> '{{{p}}}')" for p in ("displayName", "name,givenName", "name,familyName")]
        lit = "'" + pat.replace("'", "''") + "'"
        where = " OR ".join(f"{x} LIKE {lit}" for x in f)
        sql = (f"SELECT COUNT(*) FROM resources r WHERE r.org_id = '{org}' AND r.kind = 0 AND ({where}); "
               f"SELECT r.seq FROM resources r WHERE r.org_id = '{org}' AND r.kind = 0 AND ({where}) ORDER BY r.seq LIMIT 51;")
        t0 = time.perf_counter()
        subprocess.run(["psql", url, "-qtAc", sql], check=True, capture_output=True, timeout=120)
        times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({"before_p50_ms": round(times[len(times) // 2], 1), "before_max_ms": round(times[-1], 1), "before_queries": len(times)}))
PY
}

for backend in $BACKENDS; do
  if [ "$backend" = sqlite ]; then
    DB="$WORK/search-$N.db"; URL="sqlite://$DB"
    if [ "${SEARCH_REUSE:-0}" != 1 ] || [ ! -s "$DB" ]; then
      rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-token-epoch" "$DB-data-epoch" "$DB.orgs"
    fi
  else
    URL="$PG_BASE/scimd_bench_search"
    if [ "${SEARCH_REUSE:-0}" != 1 ]; then
      psql "$PG_BASE/postgres" -qtAc "DROP DATABASE IF EXISTS scimd_bench_search WITH (FORCE)" >/dev/null
      psql "$PG_BASE/postgres" -qtAc "CREATE DATABASE scimd_bench_search" >/dev/null
    fi
  fi
  ORGS="$OUT/$backend.orgs"
  if [ "${SEARCH_REUSE:-0}" != 1 ] || [ ! -s "$ORGS" ]; then
    A="$("$SCIMD" org create big --kind business --database "$URL")"
    B="$("$SCIMD" org create small --kind business --database "$URL")"
    t0=$(date +%s)
    "$SCIMD" import --org "$A" --database "$URL" "$OUT/a.jsonl" >&2
    "$SCIMD" import --org "$B" --database "$URL" "$OUT/b.jsonl" >&2
    log "[$backend] loaded $N + $NB accounts in $(( $(date +%s) - t0 ))s"
    for o in "$A" "$B"; do
      "$SCIMD" admin add --org "$o" --email bench@example.com --password-file "$PW" --database "$URL" >/dev/null
    done
    printf '%s %s\n' "$A" "$B" > "$ORGS"
  fi
  read -r A B < "$ORGS"
  SCIMD_LOG=warn taskset -c "$SERVER_CPUS" "$SCIMD" serve --listen "127.0.0.1:$PORT" \
    --database "$URL" > "$OUT/scimd-$backend.log" 2>&1 &
  SCIMD_PIDS+=("$!")
  for _ in $(seq 150); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/readyz" && break; sleep 0.2; done
  API="http://127.0.0.1:$PORT/api/v1"
  client_pin python3 "$BENCH_DIR/searchload.py" run "$API" "$A" bench@example.com "$(cat "$PW")" "$N" 1 a.example \
    --label "$backend $N" --queries "$Q" | tee "$OUT/$backend-a.json"
  client_pin python3 "$BENCH_DIR/searchload.py" run "$API" "$B" bench@example.com "$(cat "$PW")" "$NB" 2 b.example \
    --label "$backend $NB beside $N" --queries "$Q" | tee "$OUT/$backend-b.json"
  stop_scimd
  before "$URL" "$A" "$N" 1 a.example "$BENCH_DIR" | tee "$OUT/$backend-before.json"
done
