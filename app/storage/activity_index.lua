-- activity_index.lua (after ordered_index.lua, the library): the latest-activity index's writes on one Redis outside
-- the drain (a backfill, the move of releases before's sets, a contact scored with nothing to write):
-- app/storage/activity.py. The drain does the same inside apply_batch.lua. docs/performance.md, "Row 5a
-- (2026-12-04 late)".
--
-- A contact's latest interaction time (ms) is its contact hash's field `la` (ACTIVITY_FIELD), exactly; its bucket's
-- compact ordered index holds it at that time's granule (the time less its remainder by G): the field says which
-- entry to remove when the granule changes. Releases before kept a plain sorted set per bucket (keys.activity): a
-- contact there is moved into the index by its next write here.
-- Atomic per call: the field, the old set and the index change together, so the index holds exactly one entry per
-- contact with a time, at the field's granule, and the old set none for it once written here.
--
-- Touches the contacts' hashes, which are not declared (their ids are in ARGV): one Redis only. A cluster takes
-- the same steps from Python, in an order a replay repairs (ActivityIndex._raise_stepwise).
--
-- KEYS[1]: the bucket's index (keys.activity_index), KEYS[2]: its sorted set of releases before (keys.activity).
-- ARGV: MAX (entries per leaf), G (the granule, ms), the contact hash's name as the text before and after the id,
-- the migrations hash and activity-none-explicit's name (a field without `la` holds what the contact's states derive
-- once that is recorded: latest_activity.lua, the library after ordered_index.lua), then T C [T C ...]: contact C
-- was active at T (ms). Each contact's time becomes the latest of T, its field and its
-- old set's entry; its index entry is written again when T is that time (idempotent: an entry a restore left out is
-- put back). Reply: how many contacts' times moved.
local base, before = KEYS[1], KEYS[2]
local max, g, head, tail = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local derive = {ARGV[5], ARGV[6]}
local moved = 0
local any_before = redis.call('EXISTS', before) == 1  -- (once every old set was moved, none is looked in)
for i = 7, #ARGV, 2 do
  local t, c = oi_score(ARGV[i]), ARGV[i + 1]
  local hash = head .. c .. tail
  local cur = la_read(hash, derive)  -- (nil when none)
  local old = any_before and redis.call('ZSCORE', before, c)
  local new = t
  if cur and cur > new then new = cur end
  if old then
    redis.call('ZREM', before, c)
    old = tonumber(old)
    if old > new then new = old end
  end
  local gnew = new - new % g
  if cur ~= new then
    if cur == nil then
      oi_add(base, gnew, c, max)
    elseif cur - cur % g ~= gnew then
      oi_move(base, cur - cur % g, gnew, c, max)
    end
    redis.call('HSET', hash, 'la', string.format('%d', new))
    moved = moved + 1
  elseif t == new then
    oi_add(base, gnew, c, max)
  end
end
return moved
