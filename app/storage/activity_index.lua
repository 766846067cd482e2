-- activity_index.lua (after ordered_index.lua, the library): the latest-activity index's writes on one Redis
-- (app/storage/activity.py). docs/performance.md, "Row 5a (2026-12-04): activity and scores on the compact ordered
-- index".
--
-- A contact's latest interaction time (ms) is kept twice: in its contact hash as the field `la` (ACTIVITY_FIELD),
-- and as the entry (time, contact) of its bucket's compact ordered index, which finds an entry only by its
-- (score, member): the field says which entry to remove when the time moves forward. Releases before kept a plain
-- sorted set per bucket (keys.activity): a contact there is moved into the index by its next write here.
-- Atomic per call: the field, the old set and the index change together, so the index holds exactly one entry per
-- contact with a time, at the field's time, and the old set none for it once written here.
--
-- Touches the contacts' hashes, which are not declared (their ids are in ARGV): one Redis only. A cluster takes
-- the same steps from Python, in an order a replay repairs (ActivityIndex._raise_stepwise).
--
-- KEYS[1]: the bucket's index (keys.activity_index), KEYS[2]: its sorted set of releases before (keys.activity).
-- ARGV: MAX (entries per leaf), the contact hash's name as the text before and after the id, then T C [T C ...]:
-- contact C was active at T (ms). Each contact's time becomes the latest of T, its field and its old set's entry;
-- its index entry is written again when T is that time (idempotent: an entry a restore or a cut-short write left
-- out is put back). Reply: how many contacts' times moved.
local base, before = KEYS[1], KEYS[2]
local max, head, tail = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local moved = 0
local any_before = redis.call('EXISTS', before) == 1  -- (once every old set was moved, none is looked in)
for i = 4, #ARGV, 2 do
  local t, c = oi_score(ARGV[i]), ARGV[i + 1]
  local hash = head .. c .. tail
  local cur = redis.call('HGET', hash, 'la')
  cur = cur and tonumber(cur)
  local old = any_before and redis.call('ZSCORE', before, c)
  local new = t
  if cur and cur > new then new = cur end
  if old then
    redis.call('ZREM', before, c)
    old = tonumber(old)
    if old > new then new = old end
  end
  if cur ~= new then
    if cur then oi_move(base, cur, new, c, max) else oi_add(base, new, c, max) end
    redis.call('HSET', hash, 'la', string.format('%d', new))
    moved = moved + 1
  elseif t == new then
    oi_add(base, new, c, max)
  end
end
return moved
