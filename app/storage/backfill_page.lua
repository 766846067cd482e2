-- The next page of one bucket of the contact registry after the contact the archive backfill visited last
-- (app/storage/archive_backfill.py). The registry is a sorted set scored by creation time, so the walk resumes
-- by rank; reading the rank and the page in one script means a contact deleted in between cannot shift the
-- page past one the walk never visited. When the last visited contact is gone (or was made again, with another
-- score), the page starts at the first contact of its score: a few are visited twice, none is skipped.
-- KEYS[1]: the registry bucket. ARGV: 1 the last visited contact's score ('' at the bucket's start),
-- 2 its id, 3 the page size. Returns [id, score, id, score, ...].
local start = 0
if ARGV[2] ~= '' then
  local rank = redis.call('ZRANK', KEYS[1], ARGV[2])
  local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
  if rank and tonumber(score) == tonumber(ARGV[1]) then
    start = rank + 1
  else
    start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])
  end
end
return redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[3]) - 1, 'WITHSCORES')
