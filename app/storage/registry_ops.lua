-- The contact registry's operations on one contact bucket (app/storage/registry.py), after ordered_index.lua, the
-- library, which says what the index's keys hold, and created.lua. Atomic per call: every key shares the bucket's hash tag.
--
-- KEYS[1]: the bucket's compact ordered index (keys.registry_index): each contact id at its contact hash's
-- creation time (ms; `c`, or `created_at` as releases before named it: `created` below). KEYS[2]: the plain
-- sorted set beside it (keys.registry) where writers that cannot run the
-- library (ingest's recorded writes) put new contacts, each at the ms of the request that linked it.
--
-- Every call first moves up to PAGE entries of KEYS[2] into the index (all of them when PAGE < 0), each at its
-- *canonical* score: its contact's `created_at`, the one the contact hash
-- was created with (HSETNX, first wins). A second identity linked to a contact that was made earlier (or the loser
-- of two requests that made the same contact at once) puts the contact there again at a later time: the canonical
-- score finds it where the index holds it, so it is never in the index twice. Its `created_at` is read
--   CANON = 'h', then the text before and after an id in its contact hash's key (a single Redis: the script reads
--         the hash, a key it cannot declare), or
--   CANON = 'p', then N, then N pairs (id, created_at or '') the caller read (a cluster: the hash is in another
--         slot); only those ids are moved (one without `created_at` at the score it was written with): an id
--         written beside since the caller read may be a contact the index holds, linked again at a later time, so
--         it waits beside for the next call, which reads its `created_at` (moved at its written score, it would be
--         in the index twice).
--
-- A read (any OP but absorb) answers only over every contact: when entries may still wait beside once its page is
-- moved (CANON 'h': the set beside is not empty; 'p': the caller read a whole PAGE of it), it answers the status
-- MORE instead, and the caller calls again, a page a call (100,000 entries waiting held Redis 1.7-3.4 s in one call):
-- Redis answers others between pages, and a read between two pages moves the next page itself, so it never answers
-- from the index alone while contacts wait beside.
-- ARGV: OP, MAX (a leaf's entries at most), PAGE, CANON and its arguments, then OP's:
--   absorb                       nothing more; reply: how many entries were moved. KEYS may name several buckets,
--                                index and set beside, one after the other (a single Redis: one call for all)
--   count                        reply: how many contacts
--   range OFFSET COUNT           [id, score, ...] in (score, id) order from the OFFSET-th, at most COUNT (< 0: all)
--   revrange OFFSET COUNT        likewise from the newest down (score, then id, descending: ZRANGE ... REV)
--   top COUNT                    {how many contacts, the COUNT newest as revrange gives them}
--   after SCORE ID COUNT         the first COUNT after (SCORE, ID) in (score, id) order (SCORE '': from the start)
--   passed SCORE ID              how many are at or before (SCORE, ID) in that order
local base, beside, op = KEYS[1], KEYS[2], ARGV[1]
local max, page, canon = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local given, read, prefix, suffix, j = nil, nil, nil, nil, 0
if canon == 'h' then
  prefix, suffix, j = ARGV[5], ARGV[6], 7
else
  given, read = {}, {}
  local n = tonumber(ARGV[5])
  for i = 6, 5 + 2 * n, 2 do read[#read + 1] = ARGV[i]; given[ARGV[i]] = ARGV[i + 1] end
  j = 6 + 2 * n
end

-- a contact's canonical score: its creation time (created.lua, the library before this script: the earlier of its
-- short field `c` and the long `created_at` of releases before that is not corrupt), else the score it was written
-- with beside the index
local function canonical(id, written)
  local at
  if prefix then
    local got = redis.call('HMGET', prefix .. id .. suffix, 'c', 'created_at')
    at = cr_created(got[1], got[2])
  else
    at = cr_ms(given[id])
  end
  if at == nil then return tonumber(written) end
  return at
end

-- move the entries of `written` (flat id, score) into the index base at their canonical scores and out of beside
local function move_in(base, beside, written)
  local new = {}  -- (one the index holds is added again at the same score, in the same leaf: a no-op)
  for i = 1, #written, 2 do new[#new + 1] = {canonical(written[i], written[i + 1]), written[i]} end
  oi_add_pairs(base, new, max)
  local ids = {}
  for i = 1, #written, 2 do ids[#ids + 1] = written[i] end
  for i = 1, #ids, 400 do redis.call('ZREM', beside, unpack(ids, i, math.min(i + 399, #ids))) end
  return #ids
end

-- move up to n entries (all: n < 0) of the set beside into the index base at their canonical scores; how many.
-- With CANON 'p', only the ids the caller read (those of them still beside), up to n
local function absorb(base, beside, n)
  local moved = 0
  if read then
    for k = 1, #read, 1000 do
      local written = {}
      for i = k, math.min(k + 999, #read) do
        if n >= 0 and moved + #written / 2 >= n then break end
        local s = redis.call('ZSCORE', beside, read[i])
        if s then written[#written + 1] = read[i]; written[#written + 1] = s end
      end
      moved = moved + move_in(base, beside, written)
    end
    return moved
  end
  while true do
    local want = (n < 0) and 1000 or math.min(1000, n - moved)
    if want <= 0 then return moved end
    local written = redis.call('ZRANGE', beside, 0, want - 1, 'WITHSCORES')
    if #written == 0 then return moved end
    local got = move_in(base, beside, written)
    moved = moved + got
    if got < want then return moved end
  end
end

-- the entries at score s after id (by bytes), in order
local function ties_after(s, id)
  local at, out = oi_range(base, s, s, 0, -1), {}
  for i = 1, #at, 2 do
    if oi_before(id, at[i]) then out[#out + 1] = at[i]; out[#out + 1] = at[i + 1] end
  end
  return out
end

if op == 'absorb' then
  local moved = 0
  for k = 1, #KEYS, 2 do moved = moved + absorb(KEYS[k], KEYS[k + 1], page) end
  return moved
end
absorb(base, beside, page)
if page >= 0 and ((read and #read >= page) or (not read and redis.call('EXISTS', beside) == 1)) then
  return redis.status_reply('MORE')
end
if op == 'count' then return oi_count(base, -math.huge, math.huge) end
if op == 'range' then return oi_range(base, -math.huge, math.huge, tonumber(ARGV[j]), tonumber(ARGV[j + 1])) end
if op == 'revrange' then
  return oi_rev_range(base, math.huge, -math.huge, tonumber(ARGV[j]), tonumber(ARGV[j + 1]))
end
if op == 'top' then
  return {oi_count(base, -math.huge, math.huge), oi_rev_range(base, math.huge, -math.huge, 0, tonumber(ARGV[j]))}
end
if op == 'after' then
  local count = tonumber(ARGV[j + 2])
  if ARGV[j] == '' then return oi_range(base, -math.huge, math.huge, 0, count) end
  local s = oi_score(ARGV[j])
  local out = ties_after(s, ARGV[j + 1])
  if #out / 2 >= count then return {unpack(out, 1, 2 * count)} end
  if s < OI_OFFSET then
    for _, x in ipairs(oi_range(base, s + 1, math.huge, 0, count - #out / 2)) do out[#out + 1] = x end
  end
  return out
end
if op == 'passed' then
  local s = oi_score(ARGV[j])
  local below = (s > -OI_OFFSET) and oi_count(base, -math.huge, s - 1) or 0
  local at = oi_range(base, s, s, 0, -1)
  return below + #at / 2 - #ties_after(s, ARGV[j + 1]) / 2
end
error('registry: unknown operation ' .. tostring(op))
