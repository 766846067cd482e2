-- score_base.lua: one bucket of a version's score index as three keys read as one (after ordered_index.lua and
-- score_reads.lua, the libraries). app/storage/score_base.py says why; docs/performance.md, "Row 5a (2026-12-05): the score index at rest
-- in a compact base". Atomic per call: the three keys share one slot (the base and stale names carry the hot
-- set's name as their hash tag).
--   KEYS[1] hot    the plain sorted set the drain writes (`Keys.score_index`, the only key of releases before)
--   KEYS[2] stale  a small sorted set: (member, b) says the base's entry of member, at b, is dead
--   KEYS[3] base   a compact ordered index (the base name): contacts at rest; BASE:c counts its entries by score cells
-- The invariant every operation keeps: a scored contact is (a) in hot alone, (b) in base alone, live (not in
-- stale), or (c) in hot at its score and in base at an old score b, with (member, b) in stale; a contact without a
-- score is in neither, or in base at b with (member, b) in stale. So a member's base entry is dead iff stale holds
-- the member, stale holds exactly the dead base entries, and hot and the live base entries are disjoint.
-- ARGV[1]: the operation, then its arguments:
--   absorb MAX PAGE            the first PAGE entries of hot move into base (each one's dead entry out first), then
--                              up to PAGE dead entries of members not in hot leave base and stale; reply: how many
--                              entries were taken (0: nothing left to absorb)
--   count MIN MAX              how many members have a score in [MIN, MAX]
--   revrange MAX MIN OFFSET COUNT  [member, score, ...] in [MIN, MAX] from the highest down (score, then member,
--                              descending, as ZRANGE ... REV reads one key), from the OFFSET-th, at most COUNT
--   walk MAX MIN CHUNK         revrange's whole answer, read by sr_walker CHUNK entries a call (a deep walk's)
--   drop                       every key of the bucket (hot, stale, the base's directory, counter, leaves and count
--                              cells) deleted; reply: how many keys were named. One call, so an absorb (the ticker's,
--                              of versions it read before a switch) adds no leaf or cell between the read of what
--                              to delete and the delete (before, such keys were left for good under a retired version)
--   scores M S [M S ...]       each member's score ('' none); S is the score the caller read from its fold state
--                              ('' none): a member not in hot is in base at that score or has none in the index
--   repair M NEW N C1..CN [...]  (a cluster's drain, for a contact whose last index write may not have been made:
--                              app/storage/score_base.py, `pending_text`) the member's live base entry, when it is at
--                              one of the candidate scores C, made dead; then NEW ('' none) into hot, as a write
--                              does. Right whether the write it repairs was made, absorbed since, or lost. Reply: 0
local hot, stale, base, op = KEYS[1], KEYS[2], KEYS[3], ARGV[1]

local function remove_members(key, flat, step)
  for i = 1, #flat, 400 * step do
    local members = {}
    for k = i, math.min(i + 400 * step - 1, #flat), step do members[#members + 1] = flat[k] end
    redis.call('ZREM', key, unpack(members))
  end
end

if op == 'absorb' then
  local max, page = tonumber(ARGV[2]), tonumber(ARGV[3])
  local deltas = {}  -- BASE:c's cells moved, written once at the end
  local moving = redis.call('ZRANGE', hot, 0, page - 1, 'WITHSCORES')
  local taken = #moving / 2
  if taken > 0 then
    local members = {}
    for i = 1, #moving, 2 do members[#members + 1] = moving[i] end
    local dead = redis.call('ZMSCORE', stale, unpack(members))
    local gone = {}
    for k = 1, #members do
      if dead[k] then
        local b = tonumber(dead[k])
        if oi_remove(base, b, members[k]) == 1 then sr_tally(deltas, b, -1) end
        gone[#gone + 1] = members[k]
      end
    end
    oi_add_sorted(base, moving, max)
    for i = 2, #moving, 2 do sr_tally(deltas, tonumber(moving[i]), 1) end
    remove_members(hot, members, 1)
    if #gone > 0 then remove_members(stale, gone, 1) end
  end
  if taken < page then  -- dead entries of members that left the index (not in hot: hot is empty now)
    local dead = redis.call('ZRANGE', stale, 0, page - taken - 1, 'WITHSCORES')
    for i = 1, #dead, 2 do
      local b = tonumber(dead[i + 1])
      if oi_remove(base, b, dead[i]) == 1 then sr_tally(deltas, b, -1) end
    end
    if #dead > 0 then remove_members(stale, dead, 2) end
    taken = taken + #dead / 2
  end
  sr_count_flush(base, deltas)
  if taken > 0 then sr_keep_last(base) end
  return taken
end

if op == 'walk' then  -- the whole range walked a chunk at a time (sr_walker), the chunks one after the other
  local next_chunk, out = sr_walker(hot, stale, base, ARGV[2], ARGV[3]), {}
  while true do
    local chunk = next_chunk(tonumber(ARGV[4]))
    for i = 1, #chunk do out[#out + 1] = chunk[i] end
    if #chunk == 0 then return out end
  end
end

if op == 'drop' then
  local doomed = sr_count_keys(base)
  for _, k in ipairs({hot, stale, base .. ':d', base .. ':n', base .. ':z'}) do doomed[#doomed + 1] = k end
  for _, e in ipairs(redis.call('ZRANGE', base .. ':d', 0, -1)) do
    doomed[#doomed + 1] = base .. ':l:' .. string.match(e, '%z(%d+)$')
  end
  for i = 1, #doomed, 400 do redis.call('DEL', unpack(doomed, i, math.min(i + 399, #doomed))) end
  return #doomed
end

if op == 'count' then return sr_count(hot, stale, base, ARGV[2], ARGV[3]) end

if op == 'revrange' then
  return sr_rev_range(hot, stale, base, ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))
end

if op == 'scores' then
  local out = {}
  for i = 2, #ARGV, 2 do
    out[#out + 1] = sr_score(hot, stale, base, ARGV[i], tonumber(ARGV[i + 1])) or ''
  end
  return out
end

if op == 'repair' then
  local i = 2
  while i <= #ARGV do
    local m, new, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
    if not redis.call('ZSCORE', stale, m) then
      for j = 1, n do
        local c = tonumber(ARGV[i + 2 + j])
        local _, id = oi_find(base, oi_key(c, m))
        local held = id and redis.call('ZSCORE', base .. ':l:' .. id, m)
        if held and tonumber(held) == c then
          redis.call('ZADD', stale, c, m)
          break
        end
      end
    end
    if new ~= '' then redis.call('ZADD', hot, new, m) else redis.call('ZREM', hot, m) end
    i = i + 3 + n
  end
  return 0
end

error('score base: unknown operation ' .. tostring(op))
