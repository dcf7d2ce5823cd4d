-- wrk: GET /v1/items/{id} with a uniformly random id in 1..BENCH_ITEMS.
-- The API key comes from BENCH_API_KEY; every thread gets its own seed.
local key = assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY is not set")
local n_items = tonumber(os.getenv("BENCH_ITEMS") or "10000")
local headers = { ["Authorization"] = "Bearer " .. key }

local next_tid = 0
function setup(thread)
    thread:set("tid", next_tid)
    next_tid = next_tid + 1
end

function init(args)
    math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
    return wrk.format("GET", "/v1/items/" .. math.random(1, n_items), headers)
end
