-- Read what scoring needs for contacts in one call: many on one Redis, one on a cluster (a
-- contact's keys share its slot). Writes nothing.
-- KEYS: per contact: 1 its hash (document and fold states), 2 timeline, 3 horizon, 4 the states hash of releases
-- before (read instead of the contact's hash while it exists: app/contact_layout.py moves it).
-- ARGV[1]: JSON array, per contact, the timeline fields to look up ([] asks only whether the timeline exists).
-- Returns per contact {its fold states and `_rev` (flat, as HGETALL gives them; the document's fields left
-- out), HMGET of the fields or EXISTS of the timeline, the hot horizon `c` (false when none: nothing left Redis)}.
local wanted = cjson.decode(ARGV[1])
local out = {}
local find, sub = string.find, string.sub
for i, fields in ipairs(wanted) do
  local states = redis.call('HGETALL', KEYS[4 * i])
  if #states == 0 then
    -- the fold states' fields of the contact's hash (storage/timelines.py: is_state_field)
    local flat = redis.call('HGETALL', KEYS[4 * i - 3])
    for j = 1, #flat, 2 do
      local f = flat[j]
      if f == '_rev' or (find(f, '@', 1, true) and sub(f, 1, 4) ~= 'dnd:') then
        states[#states + 1] = f
        states[#states + 1] = flat[j + 1]
      end
    end
  end
  local present
  if #fields > 0 then
    present = redis.call('HMGET', KEYS[4 * i - 2], unpack(fields))
  else
    present = redis.call('EXISTS', KEYS[4 * i - 2])
  end
  out[i] = {states, present, redis.call('HGET', KEYS[4 * i - 1], 'c')}
end
return out
