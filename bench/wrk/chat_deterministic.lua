-- wrk script: like harness/wrk/chat.lua but with "temperature":0, so lockgate may answer from its cache.
-- Env: BENCH_MODEL (default gpt-4o-mini), BENCH_KEY (default sk-bench-local-0001), BENCH_PATH (default /v1/chat/completions)
--      BENCH_STREAM=1 adds "stream":true (use with model gpt-4o-mini-sse via LiteLLM, or BENCH_PATH=/sse/v1/chat/completions direct)
-- done() prints one JSON line prefixed with "JSON:" for the harness (latency in microseconds).
local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local key = os.getenv("BENCH_KEY") or "sk-bench-local-0001"
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
local stream = (os.getenv("BENCH_STREAM") == "1") and '"stream":true,' or ""
stream = stream .. '"temperature":0,'
wrk.body = '{"model":"' .. model .. '",' .. stream .. '"messages":[{"role":"user","content":"Summarize the following in one sentence: The quick brown fox jumps over the lazy dog near the riverbank while the farmer watches from the porch and the sun slowly sets behind the distant rolling green hills."}]}'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON:{"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.2f,"lat_mean_us":%.1f,"lat_stdev_us":%.1f,"lat_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout))
end
