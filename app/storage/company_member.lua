-- One contact's place in one company: joining, leaving, or a new score in rolled-up profile versions (after
-- ordered_index.lua and roster.lua, the libraries: the roster is a plain sorted set, and a compact ordered index
-- once the company is big; roster.lua says which holds what).
--
-- Atomic per call: the company's roster, each version's contributions (contact -> score), the sum of
-- them and the company's rolled-up score in its bucket's index move together, so a company's score is
-- always the roll-up of the contributions it holds, whatever order workers call in. Every key shares
-- the company bucket's hash tag ({co:B}), so this holds on a Redis Cluster too.
--
-- KEYS: 1 the company's roster (contact -> its contact bucket + 1, so a contact bucket's members are one score
--       range; 0 from a release before), 2 its bucket's registry (sorted set: company -> first join, ms),
--       then per version: contributions (sorted set), sums (hash: company -> sum), index (sorted set).
-- ARGV: 1 op: 'join' (enter the roster, then set the scores), 'leave' (leave the roster and every
--       version given), 'score' (set the scores only if the contact is in the roster: a contact that
--       just moved away must not be counted where it was); 2 company id, 3 contact id, 4 now (ms),
--       5 the contact's roster score (its contact bucket + 1), 6 a roster index leaf's entries at most, 7 how many
--       contact buckets, 8 the plain roster's entries at most before it becomes an index (0 while none may: the
--       layout's move is not recorded),
--       then per version: how ('sum' | 'average' | 'max'), the score ('' when it has none).
-- Returns {1, then per version: the company's score before, after ('' for none)}, or {0} when a 'score'
-- found the contact outside the roster (nothing written).
local op, company, contact, now, place = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local max, buckets, grow = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local roster, registry = KEYS[1], KEYS[2]

if op == 'score' and not r_holds(roster, place, contact) then
  return {0}
end
if op == 'join' then
  r_add(roster, place, contact, max, buckets, grow)
  redis.call('ZADD', registry, 'NX', now, company)
elseif op == 'leave' then
  if r_remove(roster, place, contact) then
    redis.call('ZREM', registry, company)
  end
end

-- the roll-up of a version's contributions: sum; average of the scored, whole points, halves away from
-- zero (app/scoring/companies.py:roll_up); or max
local function rolled(how, contributions, sum)
  local n = redis.call('ZCARD', contributions)
  if n == 0 then return nil end
  if how == 'max' then
    return redis.call('ZRANGE', contributions, 0, 0, 'REV', 'WITHSCORES')[2]
  end
  if how == 'average' then
    local total = math.abs(sum)
    local whole, rest = math.floor(total / n), total % n
    local rounded = whole + ((2 * rest >= n) and 1 or 0)
    return (sum >= 0) and rounded or -rounded
  end
  return sum
end

local out = {1}
local i = 3
local v = 9
while KEYS[i] do
  local contributions, sums, index = KEYS[i], KEYS[i + 1], KEYS[i + 2]
  local how, score = ARGV[v], ARGV[v + 1]
  if op == 'leave' then score = '' end
  local old = tonumber(redis.call('ZSCORE', contributions, contact) or '0')
  local new = 0
  if score == '' then
    redis.call('ZREM', contributions, contact)
  else
    new = tonumber(score)
    redis.call('ZADD', contributions, score, contact)
  end
  local before = redis.call('ZSCORE', index, company) or ''
  local sum = redis.call('HINCRBY', sums, company, new - old)
  local value = rolled(how, contributions, sum)
  if value == nil then
    redis.call('HDEL', sums, company)
    redis.call('ZREM', index, company)
  else
    redis.call('ZADD', index, value, company)
  end
  out[#out + 1] = before
  out[#out + 1] = redis.call('ZSCORE', index, company) or ''
  i = i + 3
  v = v + 2
end
return out
