-- The compact ordered index's operations on one index bucket (after ordered_index.lua, the library, which says
-- what the keys hold). Atomic per call: every key of the bucket shares its hash tag.
-- KEYS[1]: the bucket's base name; KEYS[2], for absorb and (optional) lexrange: a plain sorted set in the same slot
-- whose entries are moving into the index (written there by a writer that cannot run this library). ARGV[1]: the
-- operation, then its arguments:
--   add MAX S M [S M ...]       add each (score, member), leaves of at most MAX entries; reply: how many were new
--   add-forward MAX S M [...]   likewise, but an entry of the member in the leaf at a higher score stays (ZADD GT): a
--                               writer racing another never moves it back (app/storage/activity.py, a cluster's raise)
--   remove S M [S M ...]        remove each (score, member) held at exactly that score; reply: how many were
--   replace MAX S OLD NEW [...] each OLD held at S removed and NEW added at S in its place (an OLD no longer held
--                               gets none); reply: how many were replaced
--   move MAX S0 S1 M [...]      move each member from S0 (the score it is held at) to S1 (oi_move); reply: how many
--   range MIN MAX OFFSET COUNT  [member, score, ...] with scores in [MIN, MAX] in order (COUNT < 0: all)
--   revrange MAX MIN OFFSET COUNT  likewise from the highest down (score, then member, descending)
--   lexrange S LO HI OFFSET COUNT   [member, ...] at score S within LO and HI (as ZRANGEBYLEX takes them); with
--                               KEYS[2], of the index and that set together (a member is in one of them)
--   absorb MAX PAGE             the first PAGE entries of the set KEYS[2] moved into the index; reply: how many
--   count MIN MAX               how many scores are in [MIN, MAX]
--   sizes                       the leaves' sizes written anew (oi_size_all); reply: how many entries
-- MIN and MAX may be -inf and +inf.
local base, op = KEYS[1], ARGV[1]
if op == 'add' or op == 'add-forward' then
  local max, n = tonumber(ARGV[2]), 0
  for i = 3, #ARGV, 2 do
    n = n + oi_add(base, oi_score(ARGV[i]), ARGV[i + 1], max, op == 'add-forward')
  end
  return n
elseif op == 'remove' then
  local n = 0
  for i = 2, #ARGV, 2 do
    n = n + oi_remove(base, oi_score(ARGV[i]), ARGV[i + 1])
  end
  return n
elseif op == 'replace' then
  local max, n = tonumber(ARGV[2]), 0
  for i = 3, #ARGV, 3 do
    local s = oi_score(ARGV[i])
    if oi_remove(base, s, ARGV[i + 1]) > 0 then
      oi_add(base, s, ARGV[i + 2], max, false)
      n = n + 1
    end
  end
  return n
elseif op == 'move' then
  local max = tonumber(ARGV[2])
  for i = 3, #ARGV, 3 do
    oi_move(base, oi_score(ARGV[i]), oi_score(ARGV[i + 1]), ARGV[i + 2], max)
  end
  return (#ARGV - 2) / 3
elseif op == 'range' then
  return oi_range(base, oi_score(ARGV[2]), oi_score(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
elseif op == 'revrange' then
  return oi_rev_range(base, oi_score(ARGV[2]), oi_score(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
elseif op == 'lexrange' then
  local s, lo, hi, offset, count = oi_score(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
  if not KEYS[2] then return oi_lex_range(base, s, lo, hi, offset, count) end
  local want = count < 0 and -1 or offset + count  -- the union's first offset + count are within each one's
  local a = oi_lex_range(base, s, lo, hi, 0, want)
  local b = redis.call('ZRANGEBYLEX', KEYS[2], lo, hi, 'LIMIT', 0, want)
  local out, i, j = {}, 1, 1
  while (a[i] or b[j]) and (count < 0 or #out < offset + count) do
    if b[j] == nil or (a[i] ~= nil and oi_before(a[i], b[j])) then
      out[#out + 1] = a[i]; i = i + 1
    elseif a[i] == b[j] then  -- written again beside the index (a backfill), not yet moved: once
      out[#out + 1] = a[i]; i = i + 1; j = j + 1
    else
      out[#out + 1] = b[j]; j = j + 1
    end
  end
  return {unpack(out, offset + 1)}
elseif op == 'absorb' then
  local max, page = tonumber(ARGV[2]), tonumber(ARGV[3])
  local moving = redis.call('ZRANGE', KEYS[2], 0, page - 1, 'WITHSCORES')
  if #moving == 0 then return 0 end
  oi_add_sorted(base, moving, max)
  for i = 1, #moving, 400 do
    local members = {}
    for k = i, math.min(i + 399, #moving), 2 do members[#members + 1] = moving[k] end
    redis.call('ZREM', KEYS[2], unpack(members))
  end
  return #moving / 2
elseif op == 'count' then
  return oi_count(base, oi_score(ARGV[2]), oi_score(ARGV[3]))
elseif op == 'sizes' then
  return oi_size_all(base)
end
error('ordered index: unknown operation ' .. tostring(op))
