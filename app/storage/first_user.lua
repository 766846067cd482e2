-- Store the first user only while there is none: the first-run page and `scorekeeper users create` race
-- safely (two first owners cannot both be created). Returns 1 if stored, 0 if a user existed.
-- KEYS[1] the users hash; ARGV[1] the email; ARGV[2] the user's JSON.
if redis.call('HLEN', KEYS[1]) > 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
