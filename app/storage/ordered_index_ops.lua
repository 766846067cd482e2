-- The compact ordered index's operations on one index bucket (after ordered_index.lua, the library, which says
-- what the keys hold). Atomic per call: every key of the bucket shares its hash tag.
-- KEYS[1]: the bucket's base name. ARGV[1]: the operation, then its arguments:
--   add MAX S M [S M ...]       add each (score, member), leaves of at most MAX entries; reply: how many were new
--   remove S M [S M ...]        remove each (score, member) held at exactly that score; reply: how many were
--   range MIN MAX OFFSET COUNT  [member, score, ...] with scores in [MIN, MAX] in order (COUNT < 0: all)
--   revrange MAX MIN OFFSET COUNT  likewise from the highest down (score, then member, descending)
--   lexrange S LO HI OFFSET COUNT   [member, ...] at score S within LO and HI (as ZRANGEBYLEX takes them)
--   count MIN MAX               how many scores are in [MIN, MAX]
-- MIN and MAX may be -inf and +inf.
local base, op = KEYS[1], ARGV[1]
if op == 'add' then
  local max, n = tonumber(ARGV[2]), 0
  for i = 3, #ARGV, 2 do
    n = n + oi_add(base, oi_score(ARGV[i]), ARGV[i + 1], max)
  end
  return n
elseif op == 'remove' then
  local n = 0
  for i = 2, #ARGV, 2 do
    n = n + oi_remove(base, oi_score(ARGV[i]), ARGV[i + 1])
  end
  return n
elseif op == 'range' then
  return oi_range(base, oi_score(ARGV[2]), oi_score(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
elseif op == 'revrange' then
  return oi_rev_range(base, oi_score(ARGV[2]), oi_score(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
elseif op == 'lexrange' then
  return oi_lex_range(base, oi_score(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]))
elseif op == 'count' then
  return oi_count(base, oi_score(ARGV[2]), oi_score(ARGV[3]))
end
error('ordered index: unknown operation ' .. tostring(op))
