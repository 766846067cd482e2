-- Read what scoring needs for contacts in one call: many on one Redis, one on a cluster (a
-- contact's keys share its slot). Writes nothing.
-- KEYS: per contact: 1 states, 2 timeline, 3 horizon. ARGV[1]: JSON array, per contact, the timeline
-- fields to look up ([] asks only whether the timeline exists).
-- Returns per contact {HGETALL of states (flat), HMGET of the fields or EXISTS of the timeline,
-- the hot horizon `c` (false when none: nothing left Redis)}.
local wanted = cjson.decode(ARGV[1])
local out = {}
for i, fields in ipairs(wanted) do
  local states = redis.call('HGETALL', KEYS[3 * i - 2])
  local present
  if #fields > 0 then
    present = redis.call('HMGET', KEYS[3 * i - 1], unpack(fields))
  else
    present = redis.call('EXISTS', KEYS[3 * i - 1])
  end
  out[i] = {states, present, redis.call('HGET', KEYS[3 * i], 'c')}
end
return out
