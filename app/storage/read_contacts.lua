-- Contact documents as a page shows them, in one call (app/storage/contacts.py: ContactStore.get_contacts on
-- a single Redis; a cluster, where each contact's keys are in their own slot, pipelines the same reads).
--
-- Read only. One reply instead of three per contact: the client parses one array, not 3 x 50 replies.
--
-- KEYS: for each contact, its hash (document and fold states), its tags and, until app/contact_layout.py recorded
-- the move finished, the fold states hash of releases before (which holds the states while it exists) — ARGV[1]
-- keys each (3, or 2), in that order.
-- Returns, per contact, {its hash as HGETALL gives it without its timeline records, tags (SMEMBERS)[, the old
-- states hash as HGETALL gives it]}.
--
-- The records (fields that begin with `~`, app/storage/timelines.py `RECORD_MARK`, and the marker `~` itself) are
-- left here: a page shows the document and the scores, and a contact's records would be most of its reply (a
-- contact of 30 records: ~1.7 kB of them against ~0.2 kB of document and states) for the client to parse and drop.
local stride = tonumber(ARGV[1])
local TILDE = 126

local function without_records(flat)
  local byte = string.byte
  local first
  for i = 1, #flat, 2 do
    if byte(flat[i], 1) == TILDE then
      first = i
      break
    end
  end
  if not first then
    return flat  -- no record here: the reply as it is, no copy
  end
  local out = {}
  for i = 1, first - 1 do
    out[i] = flat[i]
  end
  for i = first, #flat, 2 do
    local f = flat[i]
    if byte(f, 1) ~= TILDE then
      out[#out + 1] = f
      out[#out + 1] = flat[i + 1]
    end
  end
  return out
end

local out = {}
for i = 1, #KEYS, stride do
  local hash = without_records(redis.call('HGETALL', KEYS[i]))
  if stride == 3 then
    out[#out + 1] = {hash, redis.call('SMEMBERS', KEYS[i + 1]), redis.call('HGETALL', KEYS[i + 2])}
  else
    out[#out + 1] = {hash, redis.call('SMEMBERS', KEYS[i + 1])}
  end
end
return out
