#!/usr/bin/env bash
# Webhooks, side by side in one run (docs/benchmarks.md, "Webhooks"):
#   1. SCIM PATCH and POST throughput (../shared/tools/bench.sh, BENCH_MODES="patch post")
#      without a webhook endpoint, then with one whose receiver takes every delivery
#      (alternating, ROUNDS rounds, a fresh database each run), and how far deliveries trail
#      the writes;
#   2. the delivery rate (events/s) to a local receiver, draining a backlog of WH_DRAIN events;
#   3. a page of 1,000 events through GET /api/v1/events when WH_EVENTS (1,000,000) events are
#      stored (seeded straight into SQLite in one transaction).
# The server is pinned to CPU $PEER_CPUS (1), wrk and the receiver to CPU 0; the receiver
# checks every signature. Everything is on loopback and bounded in time.
#   bench/webhooks.sh        (SCIMD_BIN=... to measure another build)
# Knobs: ROUNDS (2), WH_DRAIN (20000), WH_EVENTS (1000000), the tools' BENCH_* variables.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build_scimd
ROUNDS="${ROUNDS:-2}"
export BENCH_MODES="${BENCH_MODES:-patch post}"
DRAIN="${WH_DRAIN:-20000}"
EVENTS="${WH_EVENTS:-1000000}"
PORT=8096
RPORT=8097
OUT="${RUN_OUT:-/tmp/scimbench/webhooks-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
LOAD="$BENCH_DIR/webhookload.py"
# The receiver is on loopback: the benchmark's scimd may deliver there.
export SCIMD_ALLOW_PRIVATE_WEBHOOKS=true
RX_PID=""
stop_all() {
  stop_scimd
  if [ -n "$RX_PID" ] && kill -0 "$RX_PID" 2>/dev/null; then
    kill "$RX_PID"
    wait "$RX_PID" 2>/dev/null || true
  fi
  RX_PID=""
}
trap stop_all EXIT

# add_receiver DB STATUS: registers an endpoint at the receiver and starts the receiver.
add_receiver() {
  local db="$1" status="$2" org secret
  org="$(org_of "$db")"
  secret="$("$SCIMD" webhook add --org "$org" --url "http://127.0.0.1:$RPORT/hook" --database "sqlite://$db")"
  rm -f "$status"
  # Not through client_pin: $! must be the receiver itself, to stop it by its PID.
  if [ -n "$CLIENT_CPUS" ] && command -v taskset >/dev/null; then
    taskset -c "$CLIENT_CPUS" python3 "$LOAD" receive "$RPORT" "$secret" "$status" &
  else
    python3 "$LOAD" receive "$RPORT" "$secret" "$status" &
  fi
  RX_PID=$!
  for _ in $(seq 50); do [ -s "$status" ] && break; sleep 0.1; done
}

# received STATUS FIELD: a field of the receiver's status.
received() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# events_in DB: how many events the database holds.
events_in() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM events').fetchone()[0])" "$1"; }

# write_run LABEL HOOK: one measured bench.sh run (its table in $OUT/LABEL.md), with a webhook
# endpoint or not.
write_run() {
  local label="$1" hook="$2" db="$WORK/wh-$1.db" status="$WORK/wh-$1.rx.json"
  new_db "$db" >/dev/null
  [ "$hook" = 1 ] && add_receiver "$db" "$status"
  start_scimd "$db" "$PORT"
  BENCH_OUT="$OUT/$label/bench" "$TOOLS/bench.sh" "$SCIMD_BASE" "$SCIMD_TOKEN" "$label" \
    > "$OUT/$label.md"
  cat "$OUT/$label.md" >&2
  if [ "$hook" = 1 ]; then
    # How long the last deliveries trail the last write, and whether every one arrived.
    local want t0 got
    want="$(events_in "$db")"
    t0=$(date +%s.%N)
    for _ in $(seq 6000); do
      got="$(received "$status" count)"
      [ "$got" -ge "$want" ] && break
      sleep 0.1
    done
    printf '{"events": %s, "received": %s, "bad_signatures": %s, "drain_after_writes_s": %.2f}\n' \
      "$want" "$got" "$(received "$status" bad)" "$(echo "$(date +%s.%N) - $t0" | bc)" \
      | tee "$OUT/$label.rx.txt" >&2
  fi
  stop_all
}

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then
    write_run "plain$round" 0; write_run "hook$round" 1
  else
    write_run "hook$round" 1; write_run "plain$round" 0
  fi
done

# The delivery rate: a backlog of DRAIN events (users imported), replayed from the first.
DB="$WORK/wh-drain.db"
new_db "$DB" >/dev/null
"$SCIMD" import --org "$(org_of "$DB")" --generate "$DRAIN" --prefix drain --quiet --database "sqlite://$DB"
add_receiver "$DB" "$WORK/wh-drain.rx.json"
FIRST="$(python3 -c "import sqlite3,sys,uuid; r=sqlite3.connect(sys.argv[1]).execute('SELECT id FROM events ORDER BY seq LIMIT 1').fetchone(); print('evt_'+uuid.UUID(bytes=bytes(r[0])).hex)" "$DB")"
HOOK="$("$SCIMD" webhook list --org "$(org_of "$DB")" --format json --database "sqlite://$DB" | python3 -c "import json,sys; print(json.load(sys.stdin)['webhooks'][0]['id'])")"
"$SCIMD" webhook replay --org "$(org_of "$DB")" "$HOOK" --from "$FIRST" --database "sqlite://$DB"
WANT="$(events_in "$DB")"
start_scimd "$DB" "$PORT"
for _ in $(seq 6000); do
  [ "$(received "$WORK/wh-drain.rx.json" count)" -ge "$WANT" ] && break
  sleep 0.1
done
python3 - "$WORK/wh-drain.rx.json" "$WANT" <<'PY' | tee "$OUT/drain.txt" >&2
import json, sys
st, want = json.load(open(sys.argv[1])), int(sys.argv[2])
span = (st["last"] - st["first"]) if st["first"] else float("nan")
print(json.dumps({"events": want, "received": st["count"], "bad_signatures": st["bad"],
                  "seconds": round(span, 2), "events_per_s": round(st["count"] / span) if span else None}))
PY
stop_all

# The events API with EVENTS events stored.
DB="$WORK/wh-events-$EVENTS.db"
new_db "$DB" >/dev/null
python3 "$LOAD" seed-events "$DB" "$EVENTS" | tee "$OUT/seed.txt" >&2
KEY="$("$SCIMD" app create --org "$(org_of "$DB")" --name bench --database "sqlite://$DB")"
start_scimd "$DB" "$PORT"
echo "database: $(db_size "$DB"); server RSS: $(rss "$SCIMD_PID")" | tee "$OUT/events-db.txt" >&2
client_pin python3 "$LOAD" events "http://127.0.0.1:$PORT" "$KEY" "$DB" --n 200 | tee "$OUT/events.txt" >&2
stop_all
rm -f "$DB" "$DB-wal" "$DB-shm"

# The summary, as docs/benchmarks.md shows it.
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, pathlib, re, sys
out, rounds = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def last_json(p):
    return json.loads(p.read_text().strip().splitlines()[-1])
def table(path):
    rows = {}
    for line in path.read_text().splitlines():
        # | server | operation | req/s (median) | range | p50 | p99 | errors |
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and re.fullmatch(r"[\d,.]+", cells[2] or "x"):
            rows[cells[1]] = (float(cells[2].replace(",", "")), cells[4], cells[5])
    return rows
print("| round | operation | without endpoint req/s (p99 ms) | with endpoint req/s (p99 ms) | with/without | events delivered | trail after the writes |")
print("|---:|---|---:|---:|---:|---:|---:|")
for r in range(1, rounds + 1):
    a, b = table(out / f"plain{r}.md"), table(out / f"hook{r}.md")
    rx = last_json(out / f"hook{r}.rx.txt")
    for op in a:
        if op in b:
            print(f"| {r} | {op} | {a[op][0]:,.0f} ({a[op][2]}) | {b[op][0]:,.0f} ({b[op][2]}) | {b[op][0] / a[op][0]:.2f} "
                  f"| {rx['received']:,} of {rx['events']:,} | {rx['drain_after_writes_s']:.1f} s |")
d = last_json(out / "drain.txt")
print(f"\ndelivery rate: {d['received']:,} of {d['events']:,} events in {d['seconds']} s = {d['events_per_s']:,} events/s "
      f"(bad signatures: {d['bad_signatures']})")
e = last_json(out / "events.txt")
print(f"\nevents API with {e['events_stored']:,} events stored, 1,000 a page:")
for k, label in (("first_page", "oldest page"), ("after_page", "page after a random event")):
    print(f"  {label}: {e[k]['rps']:.0f} pages/s, p50 {e[k]['p50']:.1f} ms, p99 {e[k]['p99']:.1f} ms")
PY
