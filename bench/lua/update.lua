-- PUT /fhir/Patient/{id}: an id picked at random from BENCH_IDS; the body (BENCH_TEMPLATE, one
-- line with the placeholders __ID__ and __N__) changes on every request, so each PUT makes a
-- new version (an unchanged body would not).
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/common.lua")

local ids, before, middle, after, counter
local headers = {["Content-Type"] = "application/fhir+json", ["Accept"] = "application/fhir+json"}
function init(args)
  seed_random()
  ids = load_lines(os.getenv("BENCH_IDS"))
  local tpl = load_lines(os.getenv("BENCH_TEMPLATE"))[1]
  local a = string.find(tpl, "__ID__", 1, true)
  local b = string.find(tpl, "__N__", 1, true)
  assert(a and b and a < b, "template needs __ID__ then __N__")
  before, middle, after = tpl:sub(1, a - 1), tpl:sub(a + 6, b - 1), tpl:sub(b + 5)
  counter = (tid or 0) * 100000000
end

function request()
  counter = counter + 1
  local id = ids[math.random(#ids)]
  return wrk.format("PUT", "/fhir/Patient/" .. id, headers, before .. id .. middle .. counter .. after)
end
