-- Contact documents as a page shows them, in one call (app/storage/contacts.py: ContactStore.get_contacts on
-- a single Redis; a cluster, where each contact's keys are in their own slot, pipelines the same reads).
--
-- Read only. One reply instead of three per contact: the client parses one array, not 3 x 50 replies.
--
-- KEYS: for each contact, its hash (document and fold states), its tags and, until app/contact_layout.py recorded
-- the move finished, the fold states hash of releases before (which holds the states while it exists) — ARGV[1]
-- keys each (3, or 2), in that order.
-- Returns, per contact, {its hash as HGETALL gives it, tags (SMEMBERS)[, the old states hash as HGETALL gives it]}.
local stride = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, stride do
  if stride == 3 then
    out[#out + 1] = {redis.call('HGETALL', KEYS[i]), redis.call('SMEMBERS', KEYS[i + 1]),
                     redis.call('HGETALL', KEYS[i + 2])}
  else
    out[#out + 1] = {redis.call('HGETALL', KEYS[i]), redis.call('SMEMBERS', KEYS[i + 1])}
  end
end
return out
