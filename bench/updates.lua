-- wrk script for bench/updates.sh: PATCH /Users/{id} as identity providers send them to users
-- that already exist, each request to a random user of BENCH_USERS (the tools' seed.py
-- output: id<TAB>userName per line).
--   UPDATE_SHAPE=attributes  what most updates are: `active`, a title, a department (nothing
--                            the account search holds)
--   UPDATE_SHAPE=rename      a new displayName and family name (what the search holds)
local shape = os.getenv("UPDATE_SHAPE") or "attributes"
local path = os.getenv("BENCH_PATH") or "/scim/v2"
local token = os.getenv("BENCH_TOKEN") or ""
local ids = {}
for line in io.lines(os.getenv("BENCH_USERS")) do
  local id = line:match("^([^\t]+)\t")
  if id then ids[#ids + 1] = id end
end
assert(#ids > 0, "no users in BENCH_USERS")
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/scim+json"
local titles = { "Engineer", "Teacher", "Analyst", "Counsellor", "Librarian" }
local departments = { "Science", "Maths", "Arts", "Finance", "Operations" }
local counter = 0
local enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
  counter = counter + 1
  local ops
  if shape == "rename" then
    ops = '{"op":"replace","path":"displayName","value":"Renamed ' .. counter .. '"},'
      .. '{"op":"replace","path":"name.familyName","value":"Family' .. counter .. '"}'
  else
    local k = counter % 3
    if k == 0 then
      ops = '{"op":"replace","path":"active","value":' .. ((counter % 2 == 0) and "true" or "false") .. '}'
    elseif k == 1 then
      ops = '{"op":"replace","path":"title","value":"' .. titles[math.random(#titles)] .. '"}'
    else
      ops = '{"op":"replace","path":"' .. enterprise .. ':department","value":"'
        .. departments[math.random(#departments)] .. '"}'
    end
  end
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' .. ops .. ']}'
  return wrk.format("PATCH", path .. "/Users/" .. ids[math.random(#ids)], nil, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("RESULT shape=%s rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    shape, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status + e.connect + e.read + e.write + e.timeout))
end
