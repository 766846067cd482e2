-- A deleted profile's last version number kept (ProfileStore.record_deleted, deleted_versions_once's record), never
-- lowering one kept already: a deletion between the caller's read and this write kept its own number, which may be
-- higher (its newest versions scored no contact, so no score index says them). Atomic: the read and the write are
-- one step.
-- KEYS[1]: the deleted-profiles hash. ARGV[1]: the profile id, ARGV[2]: the number. Returns 1 when written, else 0.
local kept = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0
if tonumber(ARGV[2]) <= kept then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
