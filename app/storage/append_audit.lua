-- Append one audit entry with a stream id at max(ARGV[1], the newest entry's ms), so entries stay in time
-- order and an XADD never fails when processes' clocks differ by a little (a clock behind the newest entry
-- writes at that entry's millisecond). Atomic, so two writers cannot both read the same newest entry and
-- then fail. The stream is trimmed to about ARGV[3] entries on the way.
-- KEYS[1] the audit stream; ARGV[1] ms; ARGV[2] the entry JSON; ARGV[3] the most entries kept.
local ms = tonumber(ARGV[1])
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if newest[1] then
  local top = tonumber(string.match(newest[1][1], '^(%d+)-'))
  if top > ms then ms = top end
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], string.format('%d-*', ms), 'e', ARGV[2])
