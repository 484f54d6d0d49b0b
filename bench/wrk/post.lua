-- POST the payload file's bodies in turn and print wrk's summary as one JSON line.
-- usage: wrk -s post.lua URL -- PAYLOAD_FILE CONTENT_TYPE [ACCEPT]
-- A file that starts with the line "BENCH-BODIES 1" holds several bodies, each as its length in
-- bytes on a line, the body, and a newline (bench/model.py: bundle); any other file is one body.
local requests = {}
local count = 0

local function read(path)
   local file = assert(io.open(path, "rb"))
   local data = file:read("*a")
   file:close()
   return data
end

local function bodies(data)
   local magic = "BENCH-BODIES 1\n"
   if string.sub(data, 1, #magic) ~= magic then
      return {data}
   end
   local list, position = {}, #magic + 1
   while position <= #data do
      local newline = string.find(data, "\n", position, true)
      local length = tonumber(string.sub(data, position, newline - 1))
      table.insert(list, string.sub(data, newline + 1, newline + length))
      position = newline + length + 2
   end
   return list
end

function init(args)
   local headers = {["Content-Type"] = args[2]}
   if args[3] ~= nil and args[3] ~= "" then
      headers["Accept"] = args[3]
   end
   for _, body in ipairs(bodies(read(args[1]))) do
      table.insert(requests, wrk.format("POST", nil, headers, body))
   end
end

function request()
   count = count + 1
   return requests[(count - 1) % #requests + 1]
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
