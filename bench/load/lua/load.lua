-- One wrk script for every bench.load scenario (bench/load/runner.py drives it).
--
-- BENCH_PLAN names a plan file of tab-separated lines, written by bench/load/plans.py:
--   W <kind> <weight>                            how often a kind is chosen
--   R <kind> <method> <path> <prefer> <body>     one request of that kind (prefer, body may be "")
-- Each request() chooses a kind by weight, then one of its requests at random. A body holding
-- __N__ gets a per-request counter there (updates must change the resource to make a version).
-- BENCH_TOKEN (optional) is sent as "Authorization: Bearer <token>". BENCH_ENTRIES=1 counts
-- the entry statuses of Bundle responses (batch/transaction responses; ask Prefer:
-- return=minimal so that only entry.response.status carries a "status" of three digits).
--
-- wrk runs each thread in its own Lua state: every thread counts the requests it issued by
-- kind and the responses by HTTP status in its own globals; setup() keeps the thread objects
-- so that done() (main state) can read them back with thread:get() (wrk's documented
-- pattern, scripts/setup.lua) and print one BENCH_JSON line for the Python driver.

local threads = {}
local thread_no = 0

function setup(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
  table.insert(threads, thread)
end

local function split_tabs(line)
  local out, start = {}, 1
  while true do
    local i = string.find(line, "\t", start, true)
    if not i then
      out[#out + 1] = string.sub(line, start)
      return out
    end
    out[#out + 1] = string.sub(line, start, i - 1)
    start = i + 1
  end
end

local kinds, weights, total, reqs, templates, counter, count_entries

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  math.random(); math.random()
  issued, statuses, entries = {}, {}, {}
  count_entries = os.getenv("BENCH_ENTRIES") == "1"
  counter = (tid or 0) * 100000000
  local token = os.getenv("BENCH_TOKEN")
  kinds, weights, reqs, templates, total = {}, {}, {}, {}, 0
  local path = assert(os.getenv("BENCH_PLAN"), "BENCH_PLAN is not set")
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  for line in f:lines() do
    local p = split_tabs(line)
    if p[1] == "W" then
      local w = tonumber(p[3])
      if w > 0 then
        kinds[#kinds + 1] = p[2]
        total = total + w
        weights[#weights + 1] = total
        reqs[p[2]] = reqs[p[2]] or {}
      end
    elseif p[1] == "R" and reqs[p[2]] then
      local kind, method, rpath, prefer, body = p[2], p[3], p[4], p[5], p[6]
      local h = {["Accept"] = "application/fhir+json"}
      if token and #token > 0 then h["Authorization"] = "Bearer " .. token end
      if prefer and #prefer > 0 then h["Prefer"] = prefer end
      if body and #body > 0 then h["Content-Type"] = "application/fhir+json" else body = nil end
      local list = reqs[kind]
      if body and string.find(body, "__N__", 1, true) then
        local a = string.find(body, "__N__", 1, true)
        list[#list + 1] = {method, rpath, h, string.sub(body, 1, a - 1), string.sub(body, a + 5)}
      else
        list[#list + 1] = wrk.format(method, rpath, h, body)
      end
    end
  end
  f:close()
  assert(#kinds > 0, "no kind with a positive weight in " .. path)
  for _, k in ipairs(kinds) do
    assert(#reqs[k] > 0, "no request of kind " .. k .. " in " .. path)
    issued[k] = 0
  end
end

function request()
  local kind = kinds[1]
  if #kinds > 1 then
    local x = math.random() * total
    for i = 1, #weights do
      if x < weights[i] then kind = kinds[i]; break end
    end
  end
  issued[kind] = issued[kind] + 1
  local list = reqs[kind]
  local r = list[math.random(#list)]
  if type(r) == "string" then return r end
  counter = counter + 1
  return wrk.format(r[1], r[2], r[3], r[4] .. counter .. r[5])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if count_entries and body then
    for s in string.gmatch(body, '"status"%s*:%s*"(%d%d%d)') do
      entries[s] = (entries[s] or 0) + 1
    end
  end
end

local function json_counts(t)
  local keys = {}
  for k, _ in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k] or t[tonumber(k)]
    parts[#parts + 1] = string.format('"%s":%d', k, v)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function add_into(acc, t)
  for k, v in pairs(t or {}) do
    local key = tostring(k)
    acc[key] = (acc[key] or 0) + v
  end
end

function done(summary, latency, requests)
  local all_issued, all_statuses, all_entries = {}, {}, {}
  for _, thread in ipairs(threads) do
    add_into(all_issued, thread:get("issued"))
    add_into(all_statuses, thread:get("statuses"))
    add_into(all_entries, thread:get("entries"))
  end
  local p = {}
  for _, q in ipairs({50, 75, 90, 95, 99, 99.9}) do
    p[#p + 1] = string.format('"%s":%d', tostring(q), latency:percentile(q))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"wrk_status_errors":%d,' ..
    '"statuses":%s,"issued":%s,"entries":%s,"threads":%d,' ..
    '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"percentiles":{%s}}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    json_counts(all_statuses), json_counts(all_issued), json_counts(all_entries), #threads,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(p, ",")))
end
