-- wrk script: authenticated GET, machine-readable summary on the last line.
-- usage: STOREFLEET_TOKEN=sf_... wrk -t2 -c32 -d20s --latency -s bench/wrk-auth.lua URL
local token = os.getenv("STOREFLEET_TOKEN")
if token == nil or token == "" then
  error("STOREFLEET_TOKEN is not set")
end
wrk.headers["Authorization"] = "Bearer " .. token

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
