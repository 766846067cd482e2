-- Read what the hot horizon's trim pass (app/horizon.py) needs for contacts in one call: many on one Redis,
-- one on a cluster (a contact's keys share its slot). Writes nothing; atomic per call, so each contact's
-- `_rev`, states, timeline and horizon are read at one moment (the move is checked against `_rev` anyway).
-- KEYS: per contact: 1 its hash (document and fold states), 2 timeline, 3 horizon, 4 the states hash of releases
-- before (read instead while it exists: app/contact_layout.py moves it).
-- Returns per contact {`_rev` of its states (nil when none), HKEYS of the hash holding the states (the document's
-- fields too: the caller keeps the states'), HGETALL of the timeline (flat), HGETALL of the horizon (flat)}.
local out = {}
for i = 1, #KEYS / 4 do
  local states = KEYS[4 * i - 3]
  if redis.call('EXISTS', KEYS[4 * i]) == 1 then
    states = KEYS[4 * i]
  end
  out[i] = {redis.call('HGET', states, '_rev'), redis.call('HKEYS', states), redis.call('HGETALL', KEYS[4 * i - 2]),
            redis.call('HGETALL', KEYS[4 * i - 1])}
end
return out
