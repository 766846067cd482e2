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
-- contact of 30 records: ~1.7 kB of them against ~0.2 kB of document and states) for the client to parse and drop
-- (`rf_without_records`, record_fields.lua, put before this script).
local stride = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, stride do
  local hash = rf_without_records(redis.call('HGETALL', KEYS[i]))
  if stride == 3 then
    out[#out + 1] = {hash, redis.call('SMEMBERS', KEYS[i + 1]), redis.call('HGETALL', KEYS[i + 2])}
  else
    out[#out + 1] = {hash, redis.call('SMEMBERS', KEYS[i + 1])}
  end
end
return out
