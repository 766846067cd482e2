-- Replays pre-signed requests from a file, one per line: fields separated by TABs, the body last.
-- Usage: wrk -s replay.lua URL -- FILE KIND   (KIND: stripe | sendgrid)
-- Each thread starts at its own offset and walks the file; nothing is signed here.
local threads_seen = 0
function setup(thread)
  thread:set("tid", threads_seen)
  threads_seen = threads_seen + 1
end

local lines, pos, kind

function init(args)
  kind = args[2]
  lines = {}
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  pos = (tid * 7919) % #lines
end

function request()
  pos = pos % #lines + 1
  local line = lines[pos]
  if kind == "stripe" then
    local sig, body = line:match("^([^\t]*)\t(.*)$")
    return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Stripe-Signature"] = sig}, body)
  else
    local sig, ts, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    return wrk.format("POST", nil, {["Content-Type"] = "application/json",
      ["X-Twilio-Email-Event-Webhook-Signature"] = sig,
      ["X-Twilio-Email-Event-Webhook-Timestamp"] = ts}, body)
  end
end

local non2xx = 0
function response(status, headers, body)
  if status >= 300 then non2xx = non2xx + 1 end
end
