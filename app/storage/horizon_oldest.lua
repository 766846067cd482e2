-- The trim pass's bounds (app/horizon.py): per bucket of contacts, how old a record its contacts' timelines may
-- hold. KEYS[1] the sorted set (Keys.horizon_oldest): member B the bound writers lower (ZADD LT, after their
-- writes), taken:B the bound a walk of bucket B took, kept:B the oldest record the walk left so far.
-- ARGV[1] 'take' or 'settle', ARGV[2] the bucket.
-- take: the walk of B begins: B's bound moves to taken:B (the lower of both), B is left to the writers that
-- come after (absent: none yet), kept:B starts empty. Atomic, so no writer's lowering falls between the read
-- and the removal. Returns the bound taken (nil when none).
-- settle: the walk of B ended: B is lowered to kept:B (what it left, read after the take) and taken:B goes.
local key, op, b = KEYS[1], ARGV[1], ARGV[2]
local taken, kept = 'taken:' .. b, 'kept:' .. b
if op == 'take' then
  local bound = redis.call('ZSCORE', key, b)
  local before = redis.call('ZSCORE', key, taken)
  if before and (not bound or tonumber(before) < tonumber(bound)) then
    bound = before
  end
  if bound then
    redis.call('ZADD', key, bound, taken)
  end
  redis.call('ZREM', key, b, kept)
  return bound
end
local k = redis.call('ZSCORE', key, kept)
if k then
  redis.call('ZADD', key, 'LT', k, b)
end
redis.call('ZREM', key, taken, kept)
return k
