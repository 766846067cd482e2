-- A contact's latest-activity field (app/storage/activity.py, ACTIVITY_FIELD) raised to a time, never back: a
-- cluster's step of ActivityIndex._raise_stepwise, where the contact hash is in a slot of its own, apart from its
-- bucket's index. Atomic, so two raises racing (a backfill's and the drain's) write the field one after the other and
-- each learns the time it replaced and the one the field holds after it: the caller then takes out of the index the
-- entries of a time the field has left behind (its own entry, when another raise got further; the entry of the time
-- it replaced), so the contact is in the index once, at the field's time, whatever the interleaving.
-- KEYS[1]: the contact hash. ARGV: the field, the time (ms).
-- Returns {the time before ('' for none: the field empty, or corrupt, says none too: latest_activity.lua's la_time,
-- the library before this script), the time after}.
local before = redis.call('HGET', KEYS[1], ARGV[1])
local held = before and la_time(before)
if held and held >= tonumber(ARGV[2]) then return {before, before} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {before or '', ARGV[2]}
