#!/usr/bin/env bash
# Reads between writes, the way identity providers send them, side by side in one run: scimd
# on SQLite (read cache on, and off) and the peer servers, each under ../shared/tools/bench.sh's
# `mixed` mode (every request drawn at random from the weights) for each weighting of $MIXES:
#   cycle      get_id=40,filter=20,patch=30,post=10  a provisioning cycle (the tools' default)
#   reconcile  get_id=45,filter=45,patch=8,post=2    a periodic reconciliation: mostly lookups
#   wave       get_id=10,filter=25,patch=30,post=35  a wave of new people (each looked up by
#                                                    userName, then created or patched): write-heavy
# The weightings take turns within each server's turn, and the servers take turns within each
# of $MIX_ROUNDS rounds (1), so a noisy minute on this shared machine hits them alike.
# Prints the table and writes it over the "## Mixed workloads" section of docs/benchmarks.md
# (bench/run.sh keeps it) when BENCH_DOC_APPEND=1.
#   bench/mixed.sh            (MIXES="name=weights ...", BENCH_PEERS="scimmy-indexed ...")
# Servers on 127.0.0.1, pinned to CPU $PEER_CPUS (1), wrk on CPU 0; every run bounded in time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${RUN_OUT:-/tmp/scimbench/mixed-$(date +%Y%m%d-%H%M%S)}"
MIXES="${MIXES:-cycle=get_id=40,filter=20,patch=30,post=10 reconcile=get_id=45,filter=45,patch=8,post=2 wave=get_id=10,filter=25,patch=30,post=35}"
read -r -a PEERS <<< "${BENCH_PEERS:-scim2-server scim2-server-gunicorn scimmy scimmy-indexed}"
ROUNDS="${MIX_ROUNDS:-1}"
PEER_TOKEN="${BENCH_TOKEN_VALUE:-secret}"
mkdir -p "$OUT"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
build_scimd
stop_peers() { local p; for p in "${PEERS[@]}"; do "$TOOLS/peers/stop-peer.sh" "$p" >/dev/null 2>&1 || true; done; }
trap 'stop_scimd; stop_peers' EXIT

# mixes LABEL BASE TOKEN ROUND: bench.sh once per weighting against one running server.
mixes() {
  local label="$1" base="$2" token="$3" round="$4" mix name
  for mix in $MIXES; do
    name="${mix%%=*}"
    BENCH_MODES=mixed BENCH_MIX="${mix#*=}" BENCH_OUT="$OUT/$round/$label/$name" \
      "$TOOLS/bench.sh" "$base" "$token" "$label" > "$OUT/$round/$label/$name.md"
  done
}

for round in $(seq "$ROUNDS"); do
  for cache in on off; do
    label=scimd; [ "$cache" = on ] || label=scimd-uncached
    mkdir -p "$OUT/$round/$label"
    db="$WORK/mixed.db"
    new_db "$db" >/dev/null
    if [ "$cache" = off ]; then export SCIMD_READ_CACHE_ENTRIES=0; fi
    start_scimd "$db" 8090
    mixes "$label" "$SCIMD_BASE" "$SCIMD_TOKEN" "$round"
    stop_scimd
    unset SCIMD_READ_CACHE_ENTRIES
  done
  for peer in "${PEERS[@]}"; do
    mkdir -p "$OUT/$round/$peer"
    "$TOOLS/peers/stop-peer.sh" "$peer" >/dev/null 2>&1 || true
    base="$("$TOOLS/peers/start-peer.sh" "$peer" "" "$PEER_TOKEN")" || { log "could not start $peer"; continue; }
    mixes "$peer" "$base" "$PEER_TOKEN" "$round"
    "$TOOLS/peers/stop-peer.sh" "$peer" >/dev/null 2>&1 || true
  done
done

TABLE="$(python3 - "$OUT" "$MIXES" "$STARTED" "$(git -C "$REPO_DIR" rev-parse --short HEAD)" <<'PY'
import glob, os, statistics, sys
out, mixes, started, commit = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4]
# results[server][mix] = the RESULT lines of every round
results = {}
for path in glob.glob(f"{out}/*/*/*/results.txt"):
    server, mix = path.split("/")[-3], path.split("/")[-2]
    for line in open(path):
        if line.startswith("RESULT"):
            kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
            results.setdefault(server, {}).setdefault(mix, []).append(kv)
def med(rs, k):
    return statistics.median(float(r[k]) for r in rs)
print(f"## Mixed workloads (bench/mixed.sh, {started})\n")
print(f"scimd commit {commit}, release build, SQLite; every server pinned to one core, wrk on the other, "
      "16 connections, 10 s runs, medians of every run of every round. Each request is drawn at random "
      "from the weights, so reads fall between writes that change what they read.\n")
print("| weighting | server | req/s | p50 ms | p99 ms | errors |")
print("|---|---|---:|---:|---:|---:|")
order = ["scimd", "scimd-uncached"] + sorted(s for s in results if not s.startswith("scimd"))
for mix in mixes:
    name, weights = mix.split("=", 1)
    for server in order:
        rs = results.get(server, {}).get(name)
        if not rs:
            continue
        errs = sum(int(r.get("http_errors", 0)) + int(r.get("socket_errors", 0)) + int(r.get("timeouts", 0)) for r in rs)
        print(f"| {name} ({weights}) | {'**scimd**' if server == 'scimd' else server} | {med(rs, 'rps'):.0f} | "
              f"{med(rs, 'p50_ms'):.2f} | {med(rs, 'p99_ms'):.2f} | {errs} |")
print("\n| weighting | scimd req/s | read cache off | best peer | scimd / best peer | read cache off / best peer | target |")
print("|---|---:|---:|---|---:|---:|---:|")
for mix in mixes:
    name = mix.split("=", 1)[0]
    s, u = results.get("scimd", {}).get(name), results.get("scimd-uncached", {}).get(name)
    peers = [(p, med(r[name], "rps")) for p, r in results.items() if not p.startswith("scimd") and name in r]
    if not s or not peers:
        continue
    best = max(peers, key=lambda x: x[1])
    sr, ur = med(s, "rps"), (med(u, "rps") if u else None)
    ok = lambda x: "✓" if x >= 20 else "✗"
    print(f"| {name} | {sr:.0f} | {f'{ur:.0f}' if ur else '–'} | {best[0]} ({best[1]:.0f}) | "
          f"{sr / best[1]:.1f}x {ok(sr / best[1])} | {f'{ur / best[1]:.1f}x {ok(ur / best[1])}' if ur else '–'} | ≥ 20x |")
PY
)"
printf '%s\n' "$TABLE"
if [ "${BENCH_DOC_APPEND:-0}" = 1 ]; then
  DOC="${BENCH_DOC:-$REPO_DIR/docs/benchmarks.md}"
  python3 - "$DOC" "$TABLE" <<'PY'
import re, sys
path, table = sys.argv[1], sys.argv[2]
doc = open(path).read()
# The section runs to the next "## " heading or the end.
pattern = re.compile(r"^## Mixed workloads \(bench/mixed\.sh.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(doc):
    doc = pattern.sub(lambda _: table.rstrip() + "\n\n", doc)
else:
    pg = doc.find("## PostgreSQL (bench/postgres.sh")
    doc = (doc[:pg] + table.rstrip() + "\n\n" + doc[pg:]) if pg >= 0 else doc.rstrip() + "\n\n" + table + "\n"
open(path, "w").write(doc)
PY
  log "wrote the mixed workloads section of $DOC"
fi
log "raw output: $OUT"
