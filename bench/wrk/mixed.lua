-- POST one payload, and every Nth request another (a poisoned one), then print wrk's summary as JSON.
-- usage: wrk -s mixed.lua URL -- PAYLOAD_FILE CONTENT_TYPE ACCEPT [OTHER_FILE EVERY_N]
-- With EVERY_N 0 (or no OTHER_FILE) every request carries PAYLOAD_FILE, through the same code path,
-- so a clean run and a poisoned run cost wrk the same.
local function read(path)
   local file = assert(io.open(path, "rb"))
   local data = file:read("*a")
   file:close()
   return data
end

local clean, other
local every = 0
local count = 0

function init(args)
   local headers = {["Content-Type"] = args[2]}
   if args[3] ~= nil and args[3] ~= "" then
      headers["Accept"] = args[3]
   end
   clean = wrk.format("POST", nil, headers, read(args[1]))
   if args[4] ~= nil and args[4] ~= "" then
      other = wrk.format("POST", nil, headers, read(args[4]))
      every = tonumber(args[5]) or 0
   end
end

function request()
   count = count + 1
   if every > 0 and count % every == 0 then
      return other
   end
   return clean
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"min": %d, "max": %d, "mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.max, latency.mean,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
