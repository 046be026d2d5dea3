-- POST /fhir/Patient (create, server-assigned id), bodies cycled from BENCH_BODIES
-- (one compact JSON Patient per line).
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/common.lua")

local reqs, n
function init(args)
  seed_random()
  local path = os.getenv("BENCH_PATH") or "/fhir/Patient"
  local headers = {["Content-Type"] = "application/fhir+json", ["Accept"] = "application/fhir+json"}
  reqs = {}
  for i, body in ipairs(load_lines(os.getenv("BENCH_BODIES"))) do
    reqs[i] = wrk.format("POST", path, headers, body)
  end
  n = math.random(#reqs)
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end
