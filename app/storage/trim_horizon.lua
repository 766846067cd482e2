-- Move contacts' hot horizon forward (app/horizon.py): drop the timeline records the archive holds that
-- happened before it, store the checkpoints at it, and drop the ledger entries before it - only for a
-- contact nobody changed since it was read (its `_rev`), like apply_batch.lua. Many contacts per call on
-- one Redis, one on a cluster (a contact's keys share its slot).
-- The library record_fields.lua is before this script.
-- KEYS: per contact, in order: 1 timeline hash, 2 its hash (document, fold states, records), 3 horizon, 4 the
--   states hash of releases before (the states are there while it exists: app/contact_layout.py moves them), then
--   its ledgers.
-- ARGV[1]: JSON {writes: [{rev, n (its number of ledger keys), c (the horizon, ms), del [record keys `source:id`],
--   horizon {field: value} (the whole horizon hash: c, a, a checkpoint per version)}, ...]}.
-- Atomic per contact: a contact whose `_rev` moved is left untouched and gets 0 in the reply; every other
-- gets its new `_rev` (scorers that read it before wait and read again).
local p = cjson.decode(ARGV[1])
local out = {}
local k = 0
for i, w in ipairs(p.writes) do
  local states = KEYS[k + 2]
  if redis.call('EXISTS', KEYS[k + 4]) == 1 then
    states = KEYS[k + 4]
  end
  local rev = redis.call('HGET', states, '_rev') or ''
  if rev ~= w.rev then
    out[i] = 0
  else
    -- each record is in the contact's hash or its timeline hash (record_fields.lua): deleted from both
    if #w.del > 0 then
      local fields = {}
      for j, f in ipairs(w.del) do
        fields[j] = rf_field(f)
      end
      for j = 1, #fields, 4000 do
        redis.call('HDEL', KEYS[k + 2], unpack(fields, j, math.min(j + 3999, #fields)))
        redis.call('HDEL', KEYS[k + 1], unpack(w.del, j, math.min(j + 3999, #w.del)))
      end
      -- the timeline hash emptied: its marker goes with it (else the drain asks the empty key). In this call, so
      -- a writer's record apart comes before (the key is not empty) or after (it sets the marker again)
      if redis.call('EXISTS', KEYS[k + 1]) == 0 then
        redis.call('HDEL', KEYS[k + 2], RECORD_MARKER)
      end
    end
    redis.call('DEL', KEYS[k + 3])  -- every field is written anew: checkpoints of other versions are stale
    for f, v in pairs(w.horizon) do
      redis.call('HSET', KEYS[k + 3], f, v)
    end
    -- ledgers are newest first and in time order: the entries before the horizon are at the tail
    for j = 1, w.n do
      local key = KEYS[k + 4 + j]
      while true do
        local last = redis.call('LINDEX', key, -1)
        if not last then
          break
        end
        local entry = cjson.decode(last)
        local at = entry[1] or entry.at
        if at >= w.c then
          break
        end
        redis.call('RPOP', key)
      end
    end
    out[i] = redis.call('HINCRBY', states, '_rev', 1)
  end
  k = k + 4 + w.n
end
return out
