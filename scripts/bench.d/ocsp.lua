-- wrk script of scripts/bench: replays a file of OCSP requests.
--
-- Environment:
--   BENCH_REQUESTS  file with one request per line: for POST the DER body in
--                   hex, for GET the request target (/<url-encoded base64>)
--   BENCH_METHOD    POST (default) or GET
--   BENCH_CLOSE     1: send "Connection: close" (one connection per request)
--   BENCH_OUT       file that receives the summary as one JSON object
--
-- Each thread starts at a different place in the list and walks it in order.

local requests_file = os.getenv("BENCH_REQUESTS")
local method = os.getenv("BENCH_METHOD") or "POST"
local close = os.getenv("BENCH_CLOSE") == "1"
local out_file = os.getenv("BENCH_OUT")

-- wrk's own resolve() opens and closes a connection to each address before
-- the run, sending nothing. `openssl ocsp` (3.0) then spins at 100 % CPU and
-- stops serving, so skip that probe: the address is a literal 127.0.0.1.
function wrk.resolve(host, service)
   wrk.addrs = wrk.lookup(host, service)
end

local threads = 0
function setup(thread)
   thread:set("thread_index", threads)
   threads = threads + 1
end

local function unhex(text)
   return (text:gsub("..", function(pair) return string.char(tonumber(pair, 16)) end))
end

local list = {}
local position = 0

function init(args)
   local headers = {}
   if close then
      headers["Connection"] = "close"
   end
   if method == "POST" then
      headers["Content-Type"] = "application/ocsp-request"
   end
   for line in io.lines(requests_file) do
      if #line > 0 then
         if method == "GET" then
            list[#list + 1] = wrk.format("GET", line, headers, nil)
         else
            list[#list + 1] = wrk.format("POST", "/", headers, unhex(line))
         end
      end
   end
   assert(#list > 0, "no requests in " .. tostring(requests_file))
   position = ((thread_index or 0) * 7919) % #list
end

function request()
   position = position % #list + 1
   return list[position]
end

function done(summary, latency, requests)
   local e = summary.errors
   local text = string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
         .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,'
         .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean)
   if out_file then
      local f = assert(io.open(out_file, "w"))
      f:write(text)
      f:close()
   else
      io.write(text)
   end
end
