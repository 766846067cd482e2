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
-- A call's writes of one bucket gathered (apply_batch.lua: a contact at a time, the bucket's skiplist touched once a
-- call, not between each contact's other writes; docs/performance.md, "Row 1 (2026-12-06, second session)"):
-- se_gather(g, m, new, held) adds one member's move to g = {hot, stale, moved = {}, held = {}, added = {}};
-- se_flush(g) writes them, as se_write would one by one. A member with no score now goes at once (rare).
local function se_gather(g, m, new, held)
  if new == '' then
    se_write(g.hot, g.stale, m, new, held)
  elseif held == '' then  -- (its fold state held no score: the index holds none, so no base entry to make dead)
    local a = g.added
    a[#a + 1] = new
    a[#a + 1] = m
  else
    local t = g.moved
    t[#t + 1] = new
    t[#t + 1] = m
    g.held[#g.held + 1] = held
  end
end
local function se_flush(g)
  local hot, a, t = g.hot, g.added, g.moved
  for s = 1, #a, 4000 do
    redis.call('ZADD', hot, unpack(a, s, math.min(s + 3999, #a)))
  end
  for s = 1, #t, 4000 do
    local e = math.min(s + 3999, #t)
    -- hot holds most of them (written since the absorb last took them): XX moves those; CH counts them
    if redis.call('ZADD', hot, 'XX', 'CH', unpack(t, s, e)) < (e - s + 1) / 2 then
      local members = {}
      for i = s + 1, e, 2 do members[#members + 1] = t[i] end
      local got, out, dead = redis.call('ZMSCORE', hot, unpack(members)), {}, {}
      for k = 1, #members do
        if not got[k] then  -- not in hot: the base holds it at the score its fold state held, now dead
          local i = s + 2 * k - 2
          out[#out + 1] = t[i]
          out[#out + 1] = t[i + 1]
          dead[#dead + 1] = g.held[(i + 1) / 2]
          dead[#dead + 1] = t[i + 1]
        end
      end
      if #out > 0 then
        redis.call('ZADD', hot, unpack(out))
        redis.call('ZADD', g.stale, unpack(dead))
      end
    end
  end
end
