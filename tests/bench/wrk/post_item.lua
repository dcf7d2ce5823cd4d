-- wrk: POST /v1/items with a small JSON body (no Idempotency-Key), so every
-- request is one INSERT and one COMMIT.
local key = assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY is not set")
local headers = {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
}

local next_tid = 0
function setup(thread)
    thread:set("tid", next_tid)
    next_tid = next_tid + 1
end

local seq = 0
function request()
    seq = seq + 1
    local body = string.format(
        '{"name":"bench-%d-%d","data":{"n":%d,"tag":"bench","tags":["a","b"]}}',
        tid or 0, seq, seq)
    return wrk.format("POST", "/v1/items", headers, body)
end
