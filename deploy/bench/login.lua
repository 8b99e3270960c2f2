-- POST /auth/login with the bench account's password (a full Argon2id verify).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"Quartz-Lantern-91!"}'
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
