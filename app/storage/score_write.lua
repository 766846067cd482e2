-- score_write.lua: the drain's write of one bucket of a version's score index (app/storage/score_base.py; the keys
-- and the invariant: score_base.lua). Only the small library score_entry.lua before it (the ordered index's would cost ~30k instructions a call). Atomic per call:
-- the two keys share one slot.
-- The library score_entry.lua is before it (se_gather, se_flush). KEYS[1] hot, KEYS[2] stale. ARGV: M NEW HELD [...]:
-- each member (once) its score moved from HELD to NEW (either '' for none; HELD is the score its fold state held,
-- which the writer read and which the index holds): NEW into hot; a member that was not in hot and held a score is
-- in the base at HELD, now dead: stale records it. Reply: 0.
local g = {hot = KEYS[1], stale = KEYS[2], moved = {}, held = {}, added = {}}
for i = 1, #ARGV, 3 do
  se_gather(g, ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
se_flush(g)
return 0
