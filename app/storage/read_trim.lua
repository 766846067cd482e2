-- Read what the hot horizon's trim pass (app/horizon.py) needs for contacts in one call: many on one Redis,
-- one on a cluster (a contact's keys share its slot). Writes nothing; atomic per call, so each contact's
-- `_rev`, states, timeline and horizon are read at one moment (the move is checked against `_rev` anyway).
-- KEYS: per contact: 1 states, 2 timeline, 3 horizon.
-- Returns per contact {`_rev` of its states (nil when none), HKEYS of the states, HGETALL of the timeline (flat),
-- HGETALL of the horizon (flat)}.
local out = {}
for i = 1, #KEYS / 3 do
  local states = KEYS[3 * i - 2]
  out[i] = {redis.call('HGET', states, '_rev'), redis.call('HKEYS', states), redis.call('HGETALL', KEYS[3 * i - 1]),
            redis.call('HGETALL', KEYS[3 * i])}
end
return out
