-- Read what scoring needs for contacts in one call: many on one Redis, one on a cluster (a
-- contact's keys share its slot). Writes nothing.
-- KEYS: per contact: 1 its hash (document and fold states), 2 timeline, 3 horizon, and while the fold states of
-- releases before may be left (ARGV[2] is 4, not 3) 4 their hash (read instead of the contact's while it exists:
-- app/contact_layout.py moves them; once it recorded the move finished, the key is not sent).
-- ARGV[1]: JSON array, per contact, the timeline fields to look up ([] asks only whether the timeline exists).
-- ARGV[2]: the number of keys per contact (3 or 4).
-- Returns per contact {its fold states and `_rev` (flat, as HGETALL gives them; the document's fields left
-- out), HMGET of the fields or EXISTS of the timeline, the hot horizon `c` (false when none: nothing left Redis)}.
local wanted = cjson.decode(ARGV[1])
local stride = tonumber(ARGV[2])
local out = {}
local find, sub = string.find, string.sub
for i, fields in ipairs(wanted) do
  local k = stride * (i - 1)
  local states = stride == 4 and redis.call('HGETALL', KEYS[k + 4]) or {}
  if #states == 0 then
    -- the fold states' fields of the contact's hash (storage/timelines.py: is_state_field)
    local flat = redis.call('HGETALL', KEYS[k + 1])
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
    present = redis.call('HMGET', KEYS[k + 2], unpack(fields))
  else
    present = redis.call('EXISTS', KEYS[k + 2])
  end
  out[i] = {states, present, redis.call('HGET', KEYS[k + 3], 'c')}
end
return out
