-- Accept a TOTP step only if it is later than the last one accepted for the account (a code works once).
-- KEYS[1]: the account's last accepted step; ARGV[1]: the step; ARGV[2]: how long to remember it, in seconds.
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
