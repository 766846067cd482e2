-- Read what the hot horizon's trim pass (app/horizon.py) needs for contacts in one call: many on one Redis,
-- one on a cluster (a contact's keys share its slot). Writes nothing; atomic per call, so each contact's
-- `_rev`, states, timeline and horizon are read at one moment (the move is checked against `_rev` anyway).
-- The library record_fields.lua is before this script.
-- KEYS: per contact: 1 its hash (document, fold states and records), 2 timeline hash, 3 horizon, 4 the states hash
-- of releases before (read instead while it exists: app/contact_layout.py moves it).
-- Returns per contact {`_rev` of its states (nil when none), the field names of the hash holding the states (the
-- document's and records' too: the caller keeps the states'), its records (`source:id`, record, ...: those of its
-- hash, then those of its timeline hash), HGETALL of the horizon (flat)}.
local byte = string.byte
local out = {}
for i = 1, #KEYS / 4 do
  local flat = redis.call('HGETALL', KEYS[4 * i - 3])
  local names, records, rev = {}, {}, false  -- (false, not nil: a nil would end the reply's array)
  for j = 1, #flat, 2 do
    local f = flat[j]
    names[#names + 1] = f
    if f == '_rev' then
      rev = flat[j + 1]
    elseif byte(f, 1) == 126 and f ~= RECORD_MARKER then
      records[#records + 1] = rf_key(f)
      records[#records + 1] = flat[j + 1]
    end
  end
  if redis.call('EXISTS', KEYS[4 * i]) == 1 then
    rev, names = redis.call('HGET', KEYS[4 * i], '_rev'), redis.call('HKEYS', KEYS[4 * i])
  end
  local apart = redis.call('HGETALL', KEYS[4 * i - 2])
  for j = 1, #apart do
    records[#records + 1] = apart[j]
  end
  out[i] = {rev, names, records, redis.call('HGETALL', KEYS[4 * i - 1])}
end
return out
