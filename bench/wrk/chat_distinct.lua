-- wrk script: every request distinct (its prompt and its "user" carry a per-thread counter),
-- so memos, caches and per-user state fill to their bounds instead of being hit.
-- Env: BENCH_MODEL (default gpt-4o-mini), BENCH_KEY (default sk-bench-local-0001),
--      BENCH_TEMPERATURE (default 0.7: not cached; 0 makes the exact cache fill with distinct entries)
local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local key = os.getenv("BENCH_KEY") or "sk-bench-local-0001"
local temperature = os.getenv("BENCH_TEMPERATURE") or "0.7"
local counter = 0
thread_id = 0  -- set per thread by setup() (a global: thread:set writes globals)
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end

function request()
  counter = counter + 1
  local n = thread_id * 100000000 + counter
  local body = '{"model":"' .. model .. '","temperature":' .. temperature .. ',"user":"u' .. n .. '",'
    .. '"messages":[{"role":"user","content":"Request ' .. n .. ': summarize the following in one sentence: '
    .. 'the quick brown fox ' .. n .. ' jumps over the lazy dog near the riverbank while the farmer watches."}]}'
  return wrk.format("POST", "/v1/chat/completions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON:{"requests":%d,"duration_us":%d,"rps":%.2f,"p99_us":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
