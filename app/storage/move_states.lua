-- Move contacts' fold states from the hash releases before kept them in (`sk:{c:ID}:states`) into the contact's
-- hash, beside its document (app/contact_layout.py). Atomic per contact: a reader or writer finds the states
-- in one place or the other (the old hash while it exists), never half moved; nothing to check, nothing to
-- retry. On one Redis a call carries many contacts; on a cluster, one (a contact's keys share its slot).
-- KEYS: per contact: 1 its hash, 2 the states hash of releases before, 3 its timeline hash (where records move
-- out to when the states would take the hash past its listpack bound: record_fields.lua, rf_make_room, before this
-- script).
-- A value longer than a listpack value (64 B; a state an earlier release stored whole) goes in pieces `F`, `F#1`,
-- `F#2`... each ending on a whole UTF-8 character, as app/storage/timelines.py stores them, so the contact's hash
-- keeps its compact encoding. Returns the number of contacts whose states moved.
local PIECE = 64
local sub, byte = string.sub, string.byte
local function pieces(f, v, args)
  if #v <= PIECE then
    args[#args + 1] = f
    args[#args + 1] = v
    return
  end
  local n, at = 0, 1
  while at <= #v do
    local stop = math.min(at + PIECE - 1, #v)
    -- end before a continuation byte (0x80-0xBF): a piece holds whole characters
    while stop < #v and stop > at do
      local b = byte(v, stop + 1)
      if b < 128 or b >= 192 then
        break
      end
      stop = stop - 1
    end
    args[#args + 1] = n == 0 and f or (f .. '#' .. n)
    args[#args + 1] = sub(v, at, stop)
    n = n + 1
    at = stop + 1
  end
end
local moved = 0
for i = 1, #KEYS, 3 do
  local flat = redis.call('HGETALL', KEYS[i + 1])
  if #flat > 0 then
    local args = {}
    for j = 1, #flat, 2 do
      pieces(flat[j], flat[j + 1], args)
    end
    rf_make_room(KEYS[i], KEYS[i + 2], redis.call('HLEN', KEYS[i]), #args / 2)
    for j = 1, #args, 200 do
      redis.call('HSET', KEYS[i], unpack(args, j, math.min(j + 199, #args)))
    end
    redis.call('DEL', KEYS[i + 1])
    moved = moved + 1
  end
end
return moved
