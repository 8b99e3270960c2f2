-- Refresh-token chains: one chain per wrk thread (run with -t N -c N), each
-- presenting the token it was just given, so none trips reuse detection.
-- REFRESH_TOKENS holds one starting token per thread, comma-separated.
local starting = {}
for t in string.gmatch(os.getenv("REFRESH_TOKENS") or "", "[^,]+") do table.insert(starting, t) end

function setup_thread(thread, n)
  thread:set("token", starting[n])
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

function on_response(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if next_token then token = next_token end
end
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
