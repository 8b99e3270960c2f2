-- GET with the bearer token in BEARER.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BEARER")
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
