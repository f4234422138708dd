-- wrk script: POST /v1/chat/completions with bodies read from a file (one JSON body per
-- line), taken in turn (each thread starts at its own line).
-- Env: BENCH_BODIES (path, required), BENCH_KEY (default sk-bench-local-0001)
local key = os.getenv("BENCH_KEY") or "sk-bench-local-0001"
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
local counter = 0
thread_id = 0  -- set per thread by setup() (a global: thread:set writes globals)
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end

function request()
  counter = counter + 1
  local body = bodies[((thread_id * 7919 + counter) % #bodies) + 1]
  return wrk.format("POST", "/v1/chat/completions", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON:{"requests":%d,"duration_us":%d,"rps":%.2f,"p99_us":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
