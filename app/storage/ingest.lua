-- Accept interactions into one partition's stream, each idempotency key at most once, and say
-- whether the partition needs a drain job.
-- KEYS[1] stream, KEYS[2] this period's seen set as releases before the seen buckets wrote it, KEYS[3] wake
-- mark, KEYS[4] the previous period's such set (both only read, until they expire); then per item, its seen
-- bucket of this period and of the previous one (all in the same {p:N} slot).
-- ARGV[1]: seconds the wake mark lives; ARGV[2]: seconds a seen bucket lives; then key1, payload1,
-- member1, key2, payload2, member2, ... (a key's member in its buckets: a 64-bit hash, partitions.seen_entry).
-- Atomic: an interaction is either remembered as seen AND queued, or neither, so a 202
-- never covers an interaction that was not queued, and a retry of a half-failed request
-- cannot be mistaken for a duplicate. A key older than the previous period is no longer
-- remembered here; it is queued again and the scorer, whose timeline holds every key, skips it.
-- Returns one 1 (accepted) or 0 (duplicate) per item, then 1 when something was accepted and no
-- drain job was marked as queued (the caller queues one; the mark is now set), else 0.
local out = {}
local accepted = 0
local written = {}
local legacy = redis.call('EXISTS', KEYS[2], KEYS[4]) > 0  -- sets of the release before: read while they live
for j = 1, (#ARGV - 2) / 3 do
  local key, member, now = ARGV[3 * j], ARGV[3 * j + 2], KEYS[3 + 2 * j]
  if not (legacy and (redis.call('SISMEMBER', KEYS[4], key) == 1 or redis.call('SISMEMBER', KEYS[2], key) == 1))
      and redis.call('SISMEMBER', KEYS[4 + 2 * j], member) == 0 and redis.call('SADD', now, member) == 1 then
    redis.call('XADD', KEYS[1], '*', 'k', key, 'd', ARGV[3 * j + 1])
    written[now] = true
    out[#out + 1] = 1
    accepted = accepted + 1
  else
    out[#out + 1] = 0
  end
end
for bucket in pairs(written) do
  redis.call('EXPIRE', bucket, tonumber(ARGV[2]))
end
local wake = 0
if accepted > 0 and redis.call('SET', KEYS[3], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  wake = 1
end
out[#out + 1] = wake
return out
