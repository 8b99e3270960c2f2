-- Shared by the wrk scenario scripts of deploy/bench/http-load.sh: counts
-- answers by status in each thread and prints one Markdown table row:
-- | scenario | answers/s | p50 | p90 | p99 | answers by status |
-- A scenario script defines `setup_thread(thread, n)` and `on_response(...)`
-- if it needs them, then calls dofile on this file.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  if setup_thread then setup_thread(thread, #threads) end
end

statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if on_response then on_response(status, headers, body) end
end

function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses") or {}) do counts[status] = (counts[status] or 0) + n end
  end
  local keys = {}
  for status in pairs(counts) do table.insert(keys, status) end
  table.sort(keys)
  local parts = {}
  for _, status in ipairs(keys) do table.insert(parts, status .. ": " .. counts[status]) end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  if errors > 0 then table.insert(parts, "socket errors: " .. errors) end
  io.write(string.format("| %s | %.0f | %.2f ms | %.2f ms | %.2f ms | %s |\n",
    os.getenv("SCENARIO") or "?", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    table.concat(parts, ", ")))
end
