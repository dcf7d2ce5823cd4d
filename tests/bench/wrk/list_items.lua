-- wrk: GET /v1/items?limit=20 (the first page) with the API key.
local key = assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY is not set")
wrk.method = "GET"
wrk.path = "/v1/items?limit=20"
wrk.headers["Authorization"] = "Bearer " .. key
