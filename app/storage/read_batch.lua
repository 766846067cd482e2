-- Read what scoring needs for contacts in one call: many on one Redis, one on a cluster (a
-- contact's keys share its slot). Writes nothing. The library record_fields.lua is before this script.
-- A contact's keys: 1 its hash (document, fold states and timeline records), 2 its timeline hash (records that did
-- not fit in the hash, and those of releases before until app/contact_layout.py moved them), 3 horizon, and while
-- the fold states of releases before may be left (ARGV[2] is 4, not 3) 4 their hash (read instead of the contact's
-- while it exists: app/contact_layout.py moves them; once it recorded the move finished, the key is not looked at).
-- On a cluster they are KEYS, per contact in that order; on one Redis no key is declared (ARGV[4] and ARGV[5] are
-- there): each name is made here from the contact's id, made only when it is used (packing a name as an argument
-- cost the worker ~1,600 instructions; docs/performance.md, row 1, "keyargs").
-- ARGV[1]: JSON array, per contact, the record keys (`source:id`) to look up ([] asks only whether it has records;
--   a key may come twice, each answered).
-- ARGV[2]: the number of keys per contact (3 or 4).
-- ARGV[3]: '1' once the timelines' move into the contact hashes was recorded: then a contact's timeline hash is
--   looked in only when its hash holds the marker (RECORD_MARKER), else '0' (always looked in).
-- ARGV[4] (one Redis only): JSON array of the contacts' ids, in the order of ARGV[1]; ARGV[5]: JSON array of the
--   text before and after the id in each key's name, in the order above ([head1, tail1, head2, tail2, ...]:
--   app/keys.py, `Keys.contact_parts` and its neighbours).
-- Returns per contact {its fold states and `_rev` (flat, as HGETALL gives them; the document's fields and the
-- records left out), per key its record (false when stored nowhere) or, for [], 1/0 whether any record is stored,
-- the hot horizon `c` (false when none: nothing left Redis)[, on a cluster the contact's score pending key's value]}.
local wanted = cjson.decode(ARGV[1])
local stride = tonumber(ARGV[2])
local moved = ARGV[3] == '1'
local ids = ARGV[4] and cjson.decode(ARGV[4])
local parts = ids and cjson.decode(ARGV[5])
local out = {}
local find, sub, byte = string.find, string.sub, string.byte
-- contact i's key n (1 hash, 2 timeline hash, 3 horizon, 4 old states hash)
local function key(i, n)
  if ids then return parts[2 * n - 1] .. ids[i] .. parts[2 * n] end
  return KEYS[stride * (i - 1) + n]
end
for i, keys in ipairs(wanted) do
  local states = stride == 4 and redis.call('HGETALL', key(i, 4)) or {}
  local own = #states == 0
  local want, present, again = {}, {}, false
  for j, key in ipairs(keys) do
    local f = rf_field(key)
    if want[f] then  -- asked before in this batch (a copy queued again): answered as its first asking, below
      again = again or {}
      again[j] = want[f]
    else
      want[f] = j
    end
    present[j] = false
  end
  local records, marked = false, not moved
  local flat = redis.call('HGETALL', key(i, 1))
  for j = 1, #flat, 2 do
    local f = flat[j]
    if byte(f, 1) == 126 then  -- '~': a record, or the marker
      if f == RECORD_MARKER then
        marked = true
      else
        records = true
        local at = want[f]
        if at then present[at] = flat[j + 1] end
      end
    elseif own and (f == '_rev' or (find(f, '@', 1, true) and sub(f, 1, 4) ~= 'dnd:')) then
      -- the fold states' fields of the contact's hash (storage/timelines.py: is_state_field)
      states[#states + 1] = f
      states[#states + 1] = flat[j + 1]
    end
  end
  if #keys > 0 then
    if marked then
      local missing, at = {}, {}
      for j, key in ipairs(keys) do
        if not present[j] then
          missing[#missing + 1] = key
          at[#missing] = j
        end
      end
      if #missing > 0 then
        local got = redis.call('HMGET', key(i, 2), unpack(missing))
        for j = 1, #missing do
          if got[j] then present[at[j]] = got[j] end
        end
      end
    end
    if again then
      for j, first in pairs(again) do present[j] = present[first] end
    end
  elseif records then
    present = 1
  else
    present = marked and redis.call('EXISTS', key(i, 2)) or 0
  end
  out[i] = {states, present, redis.call('HGET', key(i, 3), 'c')}
end
-- (a cluster: one contact a call) a key after the contact's is its score index's pending key (`Keys.score_pending`):
-- its value, or false, fourth in the reply
if not ids and #KEYS > stride * #wanted then out[1][4] = redis.call('GET', KEYS[#KEYS]) end
return out
