#!/usr/bin/env bash
# Two scimd builds compared on this machine, A B then B A, for ROUNDS rounds: each run starts
# the binary pinned to CPU $PEER_CPUS on a fresh SQLite database and runs ../shared/tools/
# bench.sh against it (wrk pinned to CPU 0). The machine drifts within minutes, so only the
# ratio of runs next to each other means anything; the summary prints each pair's ratio.
#   bench/ab.sh OLD_BINARY NEW_BINARY
# Knobs: ROUNDS (2), the tools' BENCH_* variables (BENCH_MODES, BENCH_MIX, BENCH_DURATION,
# BENCH_REPEAT, BENCH_USERS_N ...). Everything is on loopback and bounded in time.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/ab.sh OLD_BINARY NEW_BINARY" >&2; exit 2; }
export SCIMD_BIN="$1"
source "$(dirname "$0")/lib.sh"
A="$1"
B="$2"
ROUNDS="${ROUNDS:-2}"
OUT="${RUN_OUT:-/tmp/scimbench/ab-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
trap stop_scimd EXIT

# run LABEL BINARY: one measured run; its table goes to $OUT/LABEL.md.
run() {
  local label="$1"
  SCIMD="$2"
  local db="$WORK/ab.db"
  new_db "$db" >/dev/null
  start_scimd "$db" 8090
  BENCH_OUT="$OUT/$label/bench" "$TOOLS/bench.sh" "$SCIMD_BASE" "$SCIMD_TOKEN" "$label" \
    > "$OUT/$label.md"
  stop_scimd
  SCIMD_PIDS=()
}

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then
    run "a$round" "$A"; run "b$round" "$B"
  else
    run "b$round" "$B"; run "a$round" "$A"
  fi
done

# The req/s column of each operation, A and B side by side, and B/A for each round.
python3 - "$OUT" "$ROUNDS" <<'PY'
import re, sys, pathlib
out, rounds = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def table(path):
    rows = {}
    for line in path.read_text().splitlines():
        # | server | operation | req/s (median) | ...
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"[\d,.]+", cells[2] or "x"):
            rows[cells[1]] = float(cells[2].replace(",", ""))
    return rows
print("| operation | round | A req/s | B req/s | B/A |")
print("|---|---:|---:|---:|---:|")
for r in range(1, rounds + 1):
    a, b = table(out / f"a{r}.md"), table(out / f"b{r}.md")
    for op in a:
        if op in b and a[op]:
            print(f"| {op} | {r} | {a[op]:,.0f} | {b[op]:,.0f} | {b[op] / a[op]:.2f} |")
PY
