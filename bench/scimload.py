#!/usr/bin/env python3
"""Load client for the scale scenarios (standard library only).

    scimload.py users   BASE TOKEN DB --n N      filter userName eq / GET by id on N users
    scimload.py group   BASE TOKEN DB --members M  group of M members: add / remove / GET
    scimload.py entra   BASE TOKEN --n N --conns 16  filter (0 hits) then POST, N users
    scimload.py paging  BASE TOKEN --n N          cursor vs startIndex, first and last pages

BASE is http://127.0.0.1:PORT/scim/v2 (loopback only). DB is the server's SQLite file, read
only to pick existing ids. Every phase is bounded by a request count and a time limit
(SCALE_SECONDS per measurement, default 5). Keep-alive HTTP/1.1 over asyncio streams: a
few microseconds of client time per request, so latencies are the server's.
"""

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import time
import urllib.parse
import uuid

SECONDS = float(os.environ.get("SCALE_SECONDS", "5"))
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, base, token):
        u = urllib.parse.urlsplit(base)
        if u.hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"refusing non-loopback target {base}")
        self.host, self.port, self.prefix = u.hostname, u.port or 80, u.path.rstrip("/")
        self.auth = f"Bearer {token}"
        self.r = self.w = None

    async def open(self):
        self.r, self.w = await asyncio.open_connection(self.host, self.port)

    def close(self):
        if self.w:
            self.w.close()

    async def request(self, method, path, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: {self.auth}\r\nAccept: application/scim+json\r\n")
        if body is not None:
            head += f"Content-Type: application/scim+json\r\nContent-Length: {len(data)}\r\n"
        self.w.write(head.encode() + b"\r\n" + data)
        raw = await self.r.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            payload = await self.r.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            payload = b""
            while True:
                size = int((await self.r.readuntil(b"\r\n")).strip(), 16)
                payload += await self.r.readexactly(size + 2)
                payload = payload[:-2]
                if size == 0:
                    break
        else:
            payload = b""
        return status, hdrs, payload


def q(s):
    return urllib.parse.quote(s, safe="")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def line(label, lat, elapsed, errors=0):
    ms = [x * 1000 for x in lat]
    print(f"  {label:<44} n={len(ms):>6}  {len(ms) / elapsed:>8.0f} req/s  "
          f"p50 {pct(ms, 50):6.2f} ms  p99 {pct(ms, 99):6.2f} ms  errors {errors}", flush=True)
    return {"n": len(ms), "rps": len(ms) / elapsed, "p50": pct(ms, 50), "p99": pct(ms, 99)}


async def measure(base, token, label, make, conns=1, seconds=SECONDS, limit=10**9, expect=(200,)):
    """`make(i)` -> (method, path, body); runs `conns` connections until time or count."""
    lat, errors, counter = [], [0], [0]
    deadline = time.perf_counter() + seconds

    async def worker():
        c = Conn(base, token)
        await c.open()
        try:
            while time.perf_counter() < deadline and counter[0] < limit:
                i = counter[0]
                counter[0] += 1
                m, p, b = make(i)
                t0 = time.perf_counter()
                st, _, _ = await c.request(m, p, b)
                lat.append(time.perf_counter() - t0)
                if st not in expect:
                    errors[0] += 1
        finally:
            c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return line(label, lat, time.perf_counter() - t0, errors[0])


def db_ids(db, kind, n, where=""):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute(f"SELECT id FROM resources WHERE kind = ? {where} "
                       f"AND seq IN (SELECT seq FROM resources WHERE kind = ? ORDER BY random() LIMIT ?)",
                       (kind, kind, n)).fetchall()
    con.close()
    return [str(uuid.UUID(bytes=bytes(r[0]))) for r in rows]


def rss(pid):
    try:
        st = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
        return st["VmRSS"].strip(), st["VmHWM"].strip()
    except (OSError, KeyError):
        return "?", "?"


async def users(a):
    ids = db_ids(a.db, 0, 20000)
    rnd = random.Random(1)
    names = [f"{a.prefix}.{rnd.randrange(a.n)}@example.com" for _ in range(20000)]
    print(f"users: {a.n} in the organisation; {len(ids)} random ids picked")
    by_id = lambda i: ("GET", f"/Users/{ids[i % len(ids)]}", None)
    flt = lambda i: ("GET", "/Users?filter=" + q(f'userName eq "{names[i % len(names)]}"'), None)
    out = {}
    for conns in (1, 16):
        out[f"get_id c{conns}"] = await measure(a.base, a.token, f"GET /Users/{{id}}, {conns} conn", by_id, conns)
        out[f"filter c{conns}"] = await measure(a.base, a.token, f'GET filter userName eq, {conns} conn', flt, conns)
    if a.pid:
        print(f"  server RSS {rss(a.pid)[0]} (peak {rss(a.pid)[1]})")
    return out


async def group(a):
    ids = db_ids(a.db, 0, a.members + 5000)
    members, spare = ids[: a.members], ids[a.members:]
    c = Conn(a.base, a.token)
    await c.open()
    st, _, body = await c.request("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": f"big-{time.time_ns()}"})
    assert st == 201, (st, body[:300])
    gid = json.loads(body)["id"]
    t0 = time.perf_counter()
    for k in range(0, len(members), 1000):
        chunk = [{"value": m} for m in members[k:k + 1000]]
        st, _, body = await c.request("PATCH", f"/Groups/{gid}", {"schemas": [PATCH_SCHEMA],
                                      "Operations": [{"op": "add", "path": "members", "value": chunk}]})
        assert st in (200, 204), (st, body[:300])
    print(f"group: {len(members)} members added in {time.perf_counter() - t0:.1f}s "
          f"(PATCH of 1000 members each); {len(spare)} spare users")
    con = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    n = con.execute("SELECT COUNT(*) FROM group_members WHERE group_id = ?", (uuid.UUID(gid).bytes,)).fetchone()[0]
    con.close()
    print(f"  member rows in the database: {n}")
    c.close()
    add = lambda i: ("PATCH", f"/Groups/{gid}", {"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": spare[i % len(spare)]}]}]})
    rem = lambda i: ("PATCH", f"/Groups/{gid}", {"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "remove", "path": f'members[value eq "{spare[i % len(spare)]}"]'}]})
    lim = len(spare)
    out = {"add": await measure(a.base, a.token, "PATCH add one member", add, 1, limit=lim, expect=(200, 204)),
           "remove": await measure(a.base, a.token, "PATCH remove one member", rem, 1, limit=lim, expect=(200, 204)),
           "get": await measure(a.base, a.token, "GET group excludedAttributes=members",
                                lambda i: ("GET", f"/Groups/{gid}?excludedAttributes=members", None), 1)}
    full = await measure(a.base, a.token, f"GET group with all members (for scale)",
                         lambda i: ("GET", f"/Groups/{gid}", None), 1, seconds=min(SECONDS, 5), limit=20)
    out["get_full"] = full
    return out


async def entra(a):
    run = time.time_ns()
    next_i, posted, errors = [0], [0], {}
    flt_lat, post_lat = [], []
    deadline = time.perf_counter() + a.max_seconds

    async def worker():
        c = Conn(a.base, a.token)
        await c.open()
        try:
            while next_i[0] < a.n and time.perf_counter() < deadline:
                i = next_i[0]
                next_i[0] += 1
                name = f"entra.{run}.{i}@example.com"
                t0 = time.perf_counter()
                st, _, body = await c.request("GET", "/Users?filter=" + q(f'userName eq "{name}"'))
                t1 = time.perf_counter()
                flt_lat.append(t1 - t0)
                if st != 200 or b'"totalResults":0' not in body.replace(b" ", b""):
                    errors["filter"] = errors.get("filter", 0) + 1
                st, _, body = await c.request("POST", "/Users", {
                    "schemas": [USER_SCHEMA], "userName": name, "externalId": f"entra-{run}-{i}",
                    "active": True, "displayName": f"Entra User {i}",
                    "name": {"givenName": "Entra", "familyName": f"User{i}"},
                    "emails": [{"value": name, "type": "work", "primary": True}]})
                post_lat.append(time.perf_counter() - t1)
                if st == 201:
                    posted[0] += 1
                else:
                    errors[str(st)] = errors.get(str(st), 0) + 1
        finally:
            c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(a.conns)))
    wall = time.perf_counter() - t0
    print(f"entra: {posted[0]}/{a.n} users created (filter 0 hits + POST), {a.conns} in parallel, "
          f"wall time {wall:.1f}s ({posted[0] / wall:.0f} users/s); errors {errors or 0}")
    line("filter userName eq (0 hits)", flt_lat, wall)
    line("POST /Users", post_lat, wall)
    return {"wall": wall, "users": posted[0]}


async def paging(a):
    c = Conn(a.base, a.token)
    await c.open()
    size = a.page_size
    times, n_seen, cursor, pages = [], 0, "", 0
    deadline = time.perf_counter() + a.max_seconds
    t_all = time.perf_counter()
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        st, _, body = await c.request("GET", f"/Users?count={size}&cursor={q(cursor)}")
        times.append(time.perf_counter() - t0)
        assert st == 200, (st, body[:300])
        doc = json.loads(body)
        n_seen += len(doc.get("Resources", []))
        pages += 1
        cursor = doc.get("nextCursor")
        if not cursor:
            break
    total_time = time.perf_counter() - t_all
    k = min(20, len(times) // 2)
    first, last = times[:k], times[-k:]
    print(f"paging: cursor walk of {n_seen} users in {pages} pages of {size}, {total_time:.1f}s"
          f"{'' if not cursor else ' (STOPPED at the time limit)'}")
    line(f"cursor: first {k} pages", first, sum(first))
    line(f"cursor: last {k} pages", last, sum(last))
    ratio_c = statistics.median(last) / statistics.median(first)
    total = a.n
    st, _, body = await c.request("GET", "/Users?count=0")
    total = json.loads(body)["totalResults"]
    lat_first, lat_last = [], []
    for j in range(k):
        t0 = time.perf_counter()
        st, _, _ = await c.request("GET", f"/Users?count={size}&startIndex={1 + j * size}")
        lat_first.append(time.perf_counter() - t0)
    for j in range(k):
        t0 = time.perf_counter()
        st, _, _ = await c.request("GET", f"/Users?count={size}&startIndex={max(1, total - (k - j) * size + 1)}")
        lat_last.append(time.perf_counter() - t0)
    c.close()
    line(f"startIndex: first {k} pages", lat_first, sum(lat_first))
    line(f"startIndex: last {k} pages", lat_last, sum(lat_last))
    ratio_s = statistics.median(lat_last) / statistics.median(lat_first)
    print(f"  last/first page (median): cursor {ratio_c:.2f}x, startIndex {ratio_s:.2f}x")
    return {"cursor_ratio": ratio_c, "start_ratio": ratio_s}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["users", "group", "entra", "paging"])
    p.add_argument("base")
    p.add_argument("token")
    p.add_argument("db", nargs="?")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--members", type=int, default=100_000)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--prefix", default="user")
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--pid", type=int)
    p.add_argument("--json")
    a = p.parse_args()
    out = asyncio.run({"users": users, "group": group, "entra": entra, "paging": paging}[a.scenario](a))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh)


if __name__ == "__main__":
    main()
