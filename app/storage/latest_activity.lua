-- Library: a contact's latest activity as its hash holds it (app/storage/activity.py: stored_activity). `la` the
-- time (ms), or empty for none; without `la` (once activity-none-explicit is recorded: `derive`) the time of the
-- newest timeline record its fold states applied last (activity.py: entry_at, derived_activity), read from each
-- state's first piece (`{"s":N,"l":[AT,...`: within its first 64 bytes) without decoding it.
-- la_time(text): a time's text as every reader takes it (activity.py: activity_time, _TIME): at most 15 characters,
-- an optional minus and ASCII digits; anything else (empty, corrupt: "5.0", "1e3", " 5", "0x10", which tonumber
-- would take) nil. The check costs the drain ~1.0 k redis-server instructions an interaction (+0.4 %, callgrind:
-- docs/durability.md, "Review of fb6ad40..3cb674e").
local function la_time(t)
  if #t > 15 or not string.find(t, '^%-?%d+$') then return nil end
  return tonumber(t)
end
-- la_entry_at(state text): the time of the record a state applied last, nil for a timed entry's `l` ([AT,0,KEY])
local function la_entry_at(v)
  local s, e = string.find(v, '"l":[', 1, true)
  if not s then return nil end
  local c = string.find(v, ',', e + 1, true)
  if not c then return nil end
  local b1, b2 = string.byte(v, c + 1, c + 2)  -- a record's key (`"`) or its 1 (`1,`): no string made
  if b1 ~= 34 and (b1 ~= 49 or b2 ~= 44) then return nil end
  return la_time(string.sub(v, e + 1, c - 1))
end
-- la_derive(flat): the newest la_entry_at of the states in HGETALL's pairs (a state's field holds `@`, not `#`,
-- and is no `dnd:` field: storage/timelines.py, is_state_field), nil when none
local function la_derive(flat)
  local best
  for j = 1, #flat, 2 do
    local f = flat[j]
    if string.find(f, '@', 1, true) and not string.find(f, '#', 1, true) and string.sub(f, 1, 4) ~= 'dnd:' then
      local at = la_entry_at(flat[j + 1])
      if at and (not best or at > best) then best = at end
    end
  end
  return best
end
-- la_read(hash, derive, v): the contact's latest activity (nil: none); v, when given, is its `la` already read
-- (false: absent). `derive`: true, false, or {the migrations hash, activity-none-explicit's name}, whose record is
-- asked once, when a hash without `la` is met. Only a hash without `la` pays the HGETALL.
local function la_read(hash, derive, v)
  if v == nil then v = redis.call('HGET', hash, 'la') end
  if v then return la_time(v) end
  if type(derive) == 'table' then
    if derive.known == nil then derive.known = redis.call('HEXISTS', derive[1], derive[2]) == 1 end
    derive = derive.known
  end
  if not derive then return nil end
  return la_derive(redis.call('HGETALL', hash))
end
