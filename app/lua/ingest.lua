-- Accept interactions into one partition's stream, each idempotency key at most once, and say
-- whether the partition needs a drain job.
-- KEYS[1] stream, KEYS[2] seen set, KEYS[3] wake mark (all in the same {p:N} slot).
-- ARGV[1]: seconds the wake mark lives; then key1, payload1, key2, payload2, ...
-- Atomic: an interaction is either remembered as seen AND queued, or neither, so a 202
-- never covers an interaction that was not queued, and a retry of a half-failed request
-- cannot be mistaken for a duplicate. Returns one 1 (accepted) or 0 (duplicate) per item,
-- then 1 when something was accepted and no drain job was marked as queued (the caller
-- queues one; the mark is now set), else 0.
local out = {}
local accepted = 0
for i = 2, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], '*', 'k', ARGV[i], 'd', ARGV[i + 1])
    out[#out + 1] = 1
    accepted = accepted + 1
  else
    out[#out + 1] = 0
  end
end
local wake = 0
if accepted > 0 and redis.call('SET', KEYS[3], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  wake = 1
end
out[#out + 1] = wake
return out
