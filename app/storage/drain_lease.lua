-- A drain's hold on one partition: its lease and the partition's wake mark, taken, renewed and let go together,
-- each in one round trip.
-- KEYS[1] lease, KEYS[2] wake mark, KEYS[3] stream (all in the partition's {p:N} slot).
-- ARGV[1] what: take | renew | let_go | drop; ARGV[2] the drain's token; ARGV[3] lease ms; ARGV[4] wake mark seconds.
--
-- The wake mark says "a drain will see what is appended": ingest queues a drain job only when it sets a missing
-- mark ('1': a job is queued). A drain that takes the lease writes its token into the mark, so what arrives while
-- it holds the lease queues no job: the drain reads on until the stream is empty. Letting go is atomic with the
-- last look at the stream: either the stream is empty and the mark goes with the lease (the next append queues a
-- job), or entries wait and the mark says '1' again, the caller queuing their job unless one already is.
-- A drain that died leaves its token in the mark and no lease once the lease lapses: the ticker wakes the
-- partition at once (``PartitionQueue.orphaned``).
-- Atomic: no append can fall between the drain's last look and the mark's removal.
-- Returns take: 1 when taken (0: another drain holds it and will see what waits); renew: 1 while held;
-- let_go: 1 when the caller must queue a drain job; drop: 0 (an error: the lease and the drain's mark go, the
-- ticker wakes whatever waits).
local what, token = ARGV[1], ARGV[2]
if what == 'take' then
  if redis.call('SET', KEYS[1], token, 'NX', 'PX', tonumber(ARGV[3])) then
    redis.call('SET', KEYS[2], token, 'EX', tonumber(ARGV[4]))
    return 1
  end
  return 0
end
if what == 'renew' then
  if redis.call('GET', KEYS[1]) ~= token then
    return 0
  end
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  if redis.call('GET', KEYS[2]) == token then
    redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
  end
  return 1
end
if redis.call('GET', KEYS[1]) == token then
  redis.call('DEL', KEYS[1])
end
local mark = redis.call('GET', KEYS[2])
if what == 'drop' or redis.call('XLEN', KEYS[3]) == 0 then
  if mark == token then
    redis.call('DEL', KEYS[2])
  end
  return 0
end
if mark == false or mark == token then  -- entries wait and no job is queued for them
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[4]))
  return 1
end
return 0  -- a job is queued ('1'), or another drain holds the partition (its token)
