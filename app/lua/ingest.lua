-- Accept interactions into one partition's stream, each idempotency key at most once.
-- KEYS[1] stream, KEYS[2] seen set (same {p:N} slot).
-- ARGV: key1, payload1, key2, payload2, ...
-- Atomic: an interaction is either remembered as seen AND queued, or neither, so a 202
-- never covers an interaction that was not queued, and a retry of a half-failed request
-- cannot be mistaken for a duplicate. Returns one 1 (accepted) or 0 (duplicate) per item.
local out = {}
for i = 1, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], '*', 'k', ARGV[i], 'd', ARGV[i + 1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
