-- Rewrite one contact's stored values into the compact layout (app/compaction.py), only if nobody changed the
-- contact since the migration read it (its `_rev`, the scorer's optimistic lock), so it runs while the
-- server scores. Writes the same data in another form: `_rev` does not move (a scorer that read the
-- contact before writes as it would have).
-- KEYS: 1 timeline hash, 2 its hash (document, fold states, records), 3 horizon, 4 the states hash of releases
--   before (the states are there while it exists: app/contact_layout.py moves them), then its ledgers.
-- ARGV[1]: JSON {rev, timeline {field: value} (the timeline hash's), records {field: value} (the same records under
--   their field in the contact's hash: record_fields.lua), states {field: [piece...]}, horizon {field: [piece...]},
--   ledgers [[length read, [entry... newest first]], ...] one per ledger key; no entries: the list goes (the
--   fold of the timeline gives it)}.
-- The library record_fields.lua is before this script.
-- Only fields that still exist are rewritten (the others kept as they are); a ledger only while it has the length read (a version dropped
-- meanwhile stays dropped). Returns 1, or 0 when `_rev` moved (the caller reads the contact again).
local p = cjson.decode(ARGV[1])
local states = KEYS[2]
if redis.call('EXISTS', KEYS[4]) == 1 then
  states = KEYS[4]
end
local rev = redis.call('HGET', states, '_rev') or ''
if rev ~= p.rev then
  return 0
end
-- A hash is written anew (record_fields.lua: rf_write_anew) so Redis picks its encoding again: a hash that once held a
-- long value keeps the large encoding for good, even when its values become short.
local function rewrite(key, values)
  if next(values) == nil then
    return
  end
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then
    return
  end
  local args = {}
  for i = 1, #flat, 2 do
    local v = values[flat[i]]
    args[#args + 1] = flat[i]
    args[#args + 1] = v or flat[i + 1]
  end
  rf_write_anew(key, args)
end
-- fold states and the horizon's values come in pieces (`F`, `F#1`...: app/storage/timelines.py): a rewritten
-- value's old pieces go; every other field (the contact's document, in its hash) is written back as it was
local function rewrite_pieced(key, values)
  if next(values) == nil then
    return
  end
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then
    return
  end
  local args = {}
  for i = 1, #flat, 2 do
    local base = string.match(flat[i], '^(.*)#%d+$')
    if not (base and values[base]) then
      args[#args + 1] = flat[i]
      args[#args + 1] = values[flat[i]] and values[flat[i]][1] or flat[i + 1]
    end
  end
  for f, list in pairs(values) do
    for n = 2, #list do
      args[#args + 1] = f .. '#' .. (n - 1)
      args[#args + 1] = list[n]
    end
  end
  rf_write_anew(key, args)
end
rewrite_pieced(states, p.states)
rewrite(KEYS[2], p.records)
-- the timeline hash's records, rewritten, go into the contact's hash where they now fit (record_fields.lua: a
-- release before's long forms stayed apart through app/contact_layout.py's move); the rest are written anew
local apart_flat = redis.call('HGETALL', KEYS[1])
if #apart_flat > 0 then
  for i = 2, #apart_flat, 2 do
    apart_flat[i] = p.timeline[apart_flat[i - 1]] or apart_flat[i]
  end
  rf_settle(KEYS[2], KEYS[1], apart_flat)
end
rewrite_pieced(KEYS[3], p.horizon)
for j, l in ipairs(p.ledgers) do
  local key = KEYS[4 + j]
  if redis.call('LLEN', key) == l[1] then
    redis.call('DEL', key)
    if #l[2] > 0 then
      redis.call('RPUSH', key, unpack(l[2]))
    end
  end
end
return 1
