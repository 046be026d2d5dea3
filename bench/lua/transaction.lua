-- POST /fhir with a transaction Bundle, cycled from BENCH_BODIES (one compact JSON Bundle per
-- line; each holds 100 entries: new Patients and Observations referring to them by urn:uuid).
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/common.lua")

local reqs, n
function init(args)
  seed_random()
  local headers = {["Content-Type"] = "application/fhir+json", ["Accept"] = "application/fhir+json"}
  reqs = {}
  for i, body in ipairs(load_lines(os.getenv("BENCH_BODIES"))) do
    reqs[i] = wrk.format("POST", "/fhir", headers, body)
  end
  n = math.random(#reqs)
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end
