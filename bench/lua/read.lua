-- GET /fhir/Patient/{id}, the id picked at random from BENCH_IDS (one id per line).
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/common.lua")

local reqs
function init(args)
  seed_random()
  local prefix = os.getenv("BENCH_PREFIX") or "/fhir/Patient/"
  reqs = {}
  for i, id in ipairs(load_lines(os.getenv("BENCH_IDS"))) do
    reqs[i] = wrk.format("GET", prefix .. id, {["Accept"] = "application/fhir+json"})
  end
end

function request()
  return reqs[math.random(#reqs)]
end
