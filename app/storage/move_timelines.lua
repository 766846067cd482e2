-- Move contacts' timeline records from their timeline hash (`sk:{c:ID}:timeline`, where releases before kept
-- them) into the contact's hash, beside its document and fold states (app/contact_layout.py: timelines_once).
-- Atomic per contact: a reader finds each record in one place or the other, never in both nor in neither. On one
-- Redis a call carries many contacts; on a cluster, one (a contact's keys share its slot).
-- The library record_fields.lua is before this script: a record that does not fit (a field or a value over 64 B,
-- or the hash full: rf_place) stays in the timeline hash, rewritten so Redis picks its encoding again, and the
-- contact's hash gets the marker that says so.
-- KEYS: per contact: 1 its hash, 2 its timeline hash. Returns the number of contacts whose records moved.
local moved = 0
for i = 1, #KEYS, 2 do
  local flat = redis.call('HGETALL', KEYS[i + 1])
  if #flat > 0 then
    rf_settle(KEYS[i], KEYS[i + 1], flat)
    moved = moved + 1
  end
end
return moved
