-- Open-loop paced load: each thread (one connection each) sends its share of RATE requests/s on
-- a fixed schedule, and logs "interaction-id <TAB> microseconds at the 202" to OUT.<thread>.
-- Usage: wrk -t T -c T -s paced.lua URL -- RATE API_KEY OUT EVERY T
--   every EVERY-th interaction is a form.submitted (it fires the benchmark workflow); the
--   others are email.clicked. One new contact per interaction.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } timeval;
int gettimeofday(timeval *tv, void *tz);
]]
local tv = ffi.new("timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local threads_seen = 0
function setup(thread)
  thread:set("tid", threads_seen)
  threads_seen = threads_seen + 1
end

local interval_us, start_us, n, key, out, every, pending, nthreads

function init(args)
  nthreads = tonumber(args[5])
  local rate = tonumber(args[1])
  key = args[2]
  every = tonumber(args[4])
  out = io.open(args[3] .. "." .. tid, "w")
  interval_us = 1000000 * nthreads / rate
  n = 0
end

function delay()
  if start_us == nil then
    start_us = now_us() + math.floor(interval_us * tid / nthreads)
  end
  local due = start_us + n * interval_us
  local wait = (due - now_us()) / 1000
  if wait < 0 then return 0 end
  return math.floor(wait)
end

function request()
  n = n + 1
  local id = "L" .. tid .. "-" .. n
  local type_ = (n % every == 0) and "form.submitted" or "email.clicked"
  pending = id
  local body = '{"id":"' .. id .. '","type":"' .. type_ .. '","contact":{"email":"' .. id:lower() ..
    '@bench.example"},"properties":{"message_id":"' .. id .. '"}}'
  return wrk.format("POST", "/v1/interactions", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key}, body)
end

function response(status, headers, body)
  if status == 202 and pending then
    out:write(pending, "\t", string.format("%.0f", now_us()), "\n")
    out:flush()
  end
  pending = nil
end
