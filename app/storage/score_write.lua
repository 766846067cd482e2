-- score_write.lua: the drain's write of one bucket of a version's score index (app/storage/score_base.py; the keys
-- and the invariant: score_base.lua). Only the small library score_entry.lua before it (the ordered index's would cost ~30k instructions a call). Atomic per call:
-- the two keys share one slot.
-- The library score_entry.lua is before it (se_write). KEYS[1] hot, KEYS[2] stale. ARGV: M NEW HELD [...]: each member's score moved from HELD to NEW (either '' for
-- none; HELD is the score its fold state held, which the writer read and which the index holds): NEW into hot; a
-- member that was not in hot and held a score is in the base at HELD, now dead: stale records it. Reply: 0.
local hot, stale = KEYS[1], KEYS[2]
for i = 1, #ARGV, 3 do
  se_write(hot, stale, ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
return 0
