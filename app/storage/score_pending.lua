-- score_pending.lua: a contact's score pending key (`Keys.score_pending`, a cluster's only) deleted once the score index
-- write it stands for was made, unless a later batch set it anew (app/storage/score_base.py).
-- KEYS[1] the pending key; ARGV[1] the value it had when the write was made. Reply: 1 deleted, 0 left.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
