-- The expiries of releases before that app/indexes.py:expiries_once has copied into the compact index leave their
-- sorted set, each only if it still holds the time that was copied (a worker of the release before, during an
-- upgrade, may have set another meanwhile: that one stays, for the next page). Atomic: one key.
-- KEYS[1]: the bucket's sorted set (keys.expiries). ARGV: TIME CONTACT [TIME CONTACT ...]. Reply: how many left.
local n = 0
for i = 1, #ARGV, 2 do
  local held = redis.call('ZSCORE', KEYS[1], ARGV[i + 1])
  if held and tonumber(held) == tonumber(ARGV[i]) then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i + 1])
  end
end
return n
