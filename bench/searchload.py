#!/usr/bin/env python3
"""Account search benchmark helper (bench/scale-search.sh).

  searchload.py gen N SEED DOMAIN > users.jsonl   realistic users (JSON Lines for scimd import)
  searchload.py run API_BASE ORG EMAIL PASSWORD N SEED DOMAIN [--label L] [--queries Q]
      signs in over the API, then times Q searches (GET /api/v1/accounts?search=...&count=50,
      the service call the console's Accounts page makes) one after another; prints p50/p99
      per kind of query and overall as one JSON line. 127.0.0.1 only; every request has a
      10 s timeout, so a run ends by itself."""
import json, random, sys, time, urllib.parse, urllib.request

GIVEN = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
         "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Chen Wei Aiko Hiroshi Priya Arjun "
         "Fatima Omar Olga Ivan Sofia Mateo Lucia Hugo Emma Noah Ines Tomas Ngozi Chidi Amara Kofi "
         "Leila Reza Anya Pavel Sven Astrid Lars Freya Zoe Liam Mia Lucas Ava Ethan Isla Oscar Ella "
         "Finn Grace Leo Chloe Jack Ruby Henry Alice Theo Rosa Felix Nora Hana Yuki Kenji Mei Jun").split()
FAMILY = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
          "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
          "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
          "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Okafor Mensah "
          "Tanaka Suzuki Sato Kim Park Choi Wang Li Zhang Liu Singh Patel Kumar Shah Novak Kowalski "
          "Horvat Jensen Hansen Larsen Berg Lindqvist Fischer Weber Wagner Becker Schulz Rossi Russo "
          "Ferrari Esposito Bianchi Dubois Moreau Laurent Lefebvre Silva Santos Oliveira Costa Pereira").split()

def person(rng, i, domain):
    g, f = rng.choice(GIVEN), rng.choice(FAMILY)
    user = f"{g}.{f}.{i}@{domain}".lower()
    return g, f, user

def gen(n, seed, domain):
    rng = random.Random(seed)
    out = sys.stdout
    for i in range(n):
        g, f, user = person(rng, i, domain)
        out.write(json.dumps({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user, "externalId": f"ext-{i}",
            "name": {"givenName": g, "familyName": f}, "displayName": f"{g} {f}",
            "active": True, "emails": [{"value": user, "type": "work", "primary": True}],
        }, separators=(",", ":")) + "\n")

def queries(n, seed, domain, q):
    """Q queries in five kinds, drawn from the seeded population (same seed as gen)."""
    rng = random.Random(seed)
    people = [person(rng, i, domain) for i in range(n)]
    pick = random.Random(seed + 1)
    kinds = []
    for k in range(q):
        g, f, user = people[pick.randrange(n)]
        kind = ("family name", "given name", "partial e-mail", "userName", "no match")[k % 5]
        text = {"family name": f, "given name": g,
                "partial e-mail": user.split("@")[0][: max(8, len(user.split("@")[0]) - 2)],
                "userName": user,
                "no match": "".join(pick.choice("qxzjvkw") for _ in range(7))}[kind]
        kinds.append((kind, text))
    return kinds

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

def run(base, org, email, password, n, seed, domain, label, q):
    assert base.startswith("http://127.0.0.1:"), "loopback only"
    body = json.dumps({"organisation": org, "email": email, "password": password}).encode()
    req = urllib.request.Request(base + "/sessions", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    token = json.load(urllib.request.urlopen(req, timeout=10))["token"]
    by_kind, totals = {}, {}
    for kind, text in queries(n, seed, domain, q):
        url = f"{base}/accounts?count=50&search={urllib.parse.quote(text)}"
        r = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        t0 = time.perf_counter()
        page = json.load(urllib.request.urlopen(r, timeout=10))
        ms = (time.perf_counter() - t0) * 1000
        by_kind.setdefault(kind, []).append(ms)
        totals.setdefault(kind, []).append(page.get("total", 0))
    every = [x for xs in by_kind.values() for x in xs]
    result = {"label": label, "queries": len(every),
              "p50_ms": round(pct(every, 50), 2), "p99_ms": round(pct(every, 99), 2),
              "kinds": {k: {"p50_ms": round(pct(v, 50), 2), "p99_ms": round(pct(v, 99), 2),
                            "median_matches": pct(totals[k], 50)} for k, v in by_kind.items()}}
    print(json.dumps(result))

if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "gen":
        gen(int(a[1]), int(a[2]), a[3])
    elif a[0] == "run":
        label = a[a.index("--label") + 1] if "--label" in a else ""
        q = int(a[a.index("--queries") + 1]) if "--queries" in a else 300
        run(a[1], a[2], a[3], a[4], int(a[5]), int(a[6]), a[7], label, q)
