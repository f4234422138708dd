-- Appended to a request script (bench/p99_tail.sh): done() prints the latency quantile
-- function (5..95 by 5, then 96..99.99) as one JSON line prefixed "QUANT:", in microseconds.
function done(summary, latency, requests)
  local out = {}
  local ps = {}
  for p = 5, 95, 5 do ps[#ps + 1] = p end
  for _, p in ipairs({96, 97, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99}) do ps[#ps + 1] = p end
  for _, p in ipairs(ps) do out[#out + 1] = string.format('"%s":%d', p, latency:percentile(p)) end
  io.write(string.format('QUANT:{"requests":%d,"duration_us":%d,"max":%d,"mean":%.1f,"q":{%s}}\n',
    summary.requests, summary.duration, latency.max, latency.mean, table.concat(out, ",")))
end
