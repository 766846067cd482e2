-- score_entry.lua: a library, the score index's write of one member (app/storage/score_base.py; the keys and the
-- invariant: score_base.lua), put before score_write.lua and apply_batch.lua (which writes it with the contact's
-- states on one Redis). The member's score moved from held (the score its fold state held, which the index holds;
-- '' none) to new ('' none): new into hot; a member that was not in hot and held a score is in the base at held, now
-- dead: stale records it.
local function se_write(hot, stale, m, new, held)
  local was_out
  if new ~= '' then
    was_out = redis.call('ZADD', hot, new, m) == 1
  else
    was_out = redis.call('ZREM', hot, m) == 0
  end
  if was_out and held ~= '' then redis.call('ZADD', stale, held, m) end
end
