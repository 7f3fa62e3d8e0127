#!/usr/bin/env python3
"""Load and receivers for bench/webhooks.sh (standard library only, loopback only).

    webhookload.py receive PORT SECRET STATUS_FILE   a webhook receiver: 204 to every POST,
                                                     each signature checked; counts in STATUS_FILE
    webhookload.py seed-events DB N                  N user events straight into a SQLite
                                                     database (one transaction)
    webhookload.py events ORIGIN KEY DB --n R        R pages of 1,000 events: the first page
                                                     and pages after random kept events

Every load phase is bounded by time and count; every target is 127.0.0.1.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import sqlite3
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scimload import measure  # noqa: E402

# --- the receiver -------------------------------------------------------------------------

def receive(a):
    key = base64.b64decode(a.secret.removeprefix("whsec_"))
    st = {"count": 0, "bad": 0, "first": None, "last": None}

    def dump():
        tmp = a.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.replace(tmp, a.status)

    async def conn(r, w):
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                h = {}
                for ln in lines[1:]:
                    if ":" in ln:
                        k, v = ln.split(":", 1)
                        h[k.strip().lower()] = v.strip()
                body = await r.readexactly(int(h.get("content-length", "0")))
                signed = f"{h.get('webhook-id')}.{h.get('webhook-timestamp')}.".encode() + body
                want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
                sigs = [s.split(",", 1)[1] for s in h.get("webhook-signature", "").split() if "," in s]
                if want not in sigs:
                    st["bad"] += 1
                now = time.time()
                st["count"] += 1
                st["first"] = st["first"] or now
                st["last"] = now
                w.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()

    async def main():
        server = await asyncio.start_server(conn, "127.0.0.1", a.port)
        async with server:
            while True:
                dump()
                await asyncio.sleep(0.1)

    asyncio.run(main())


# --- the event log, seeded ----------------------------------------------------------------

def seed_events(a):
    con = sqlite3.connect(a.db)
    org = con.execute("SELECT id FROM organisations ORDER BY created LIMIT 1").fetchone()[0]
    org_text = str(uuid.UUID(bytes=bytes(org)))
    start = con.execute("SELECT COALESCE(MAX(last_seq), 0) FROM event_counters WHERE org_id = ?",
                        (org,)).fetchone()[0]
    now = int(time.time() * 1_000_000)

    def rows():
        for i in range(1, a.n + 1):
            uid = str(uuid.uuid4())
            data = {"id": uid, "user_name": f"seed{i}@bench.example", "display_name": f"Seed {i}",
                    "given_name": "Seed", "family_name": f"N{i}", "external_id": None,
                    "emails": [{"value": f"seed{i}@bench.example", "type": "work", "primary": True}],
                    "active": True, "state": "active", "source": "scim", "roles": [], "locations": [],
                    "grade_level": None, "sis_username": None, "groups": [],
                    "attributes": {"title": "Engineer", "department": "R&D"},
                    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
            yield (org, start + i, uuid.uuid4().bytes, "user.created", now - (a.n - i), json.dumps(data))

    t0 = time.perf_counter()
    with con:
        con.executemany("INSERT INTO events (org_id, seq, id, type, created, data) VALUES (?, ?, ?, ?, ?, ?)",
                        rows())
        con.execute("INSERT INTO event_counters (org_id, last_seq) VALUES (?, ?) "
                    "ON CONFLICT (org_id) DO UPDATE SET last_seq = excluded.last_seq", (org, start + a.n))
    con.close()
    print(f"seeded {a.n} events for {org_text} in {time.perf_counter() - t0:.1f}s", flush=True)


# --- the events API -----------------------------------------------------------------------

async def events(a):
    con = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    total = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    picks = [f"evt_{uuid.UUID(bytes=bytes(r[0])).hex}" for r in con.execute(
        "SELECT id FROM events WHERE seq IN (SELECT seq FROM events ORDER BY random() LIMIT ?)",
        (a.n,))]
    con.close()
    origin = a.origin.rstrip("/")
    out = {"events_stored": total}
    first = await measure(f"{origin}/api/v1", a.key, "GET /api/v1/events?limit=1000 (oldest)",
                          lambda i: ("GET", "/events?limit=1000", None), conns=1, seconds=30, limit=a.n)
    out["first_page"] = first
    random.shuffle(picks)
    after = await measure(f"{origin}/api/v1", a.key, "GET /api/v1/events?limit=1000&after=ID",
                          lambda i: ("GET", f"/events?limit=1000&after={picks[i % len(picks)]}", None),
                          conns=1, seconds=30, limit=a.n)
    out["after_page"] = after
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("receive")
    r.add_argument("port", type=int)
    r.add_argument("secret")
    r.add_argument("status")
    s = sub.add_parser("seed-events")
    s.add_argument("db")
    s.add_argument("n", type=int)
    e = sub.add_parser("events")
    e.add_argument("origin")
    e.add_argument("key")
    e.add_argument("db")
    e.add_argument("--n", type=int, default=200)
    a = p.parse_args()
    if a.cmd == "receive":
        receive(a)
    elif a.cmd == "seed-events":
        seed_events(a)
    else:
        asyncio.run(events(a))


if __name__ == "__main__":
    main()
