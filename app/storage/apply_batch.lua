-- Write the results of scoring contacts, if nobody changed each contact since it was read.
-- On one Redis a call carries many contacts; on a cluster, one (a contact's keys share its slot).
-- KEYS: per contact, in order: 1 timeline, 2 its hash (document and fold states), 3 outbox, 4 horizon, and while the
--   fold states of releases before may be left (ARGV[2] is 5, not 4) 5 their hash (the states are there while it
--   exists: app/contact_layout.py moves them; once it recorded the move finished, the key is not sent); then the
--   ledger lists (as earlier releases stored them) of the versions whose ledger changed: deleted.
-- ARGV[1]: JSON array, per contact, [rev, n, timeline, states, drop, outbox, doc, horizon]: `rev` the `_rev` the
--   scorer read ('' when none), n its number of ledger keys, timeline [key, record, ...], states [field, [piece...],
--   ...] (the state's JSON in pieces of at most 64 bytes, so the hash keeps its compact encoding), drop [field]
--   (from the states with their pieces, and the horizon), outbox [event], doc [field, value, ...], horizon
--   [field, [piece...], ...] (checkpoints a refold from the archive made, in pieces like the states).
-- ARGV[2]: the number of keys per contact before its ledgers (4 or 5).
-- Atomic per contact (and the whole call is atomic, which is stronger): a
-- contact whose `_rev` is not the one its scorer read is left untouched and gets 0 in the reply;
-- every other contact gets its timeline, fold states, outbox and doc written together,
-- and its new `_rev` (one more than read: set with the states) in the reply.
-- A fold state longer than a listpack value is stored in pieces: `F`, `F#1`, `F#2`... (app/storage/timelines.py,
-- PIECE_BYTES); the pieces from `F#n` on that a shorter state left behind go.
-- Each hash and list is written with one variadic command per contact (a redis.call costs ~1-2 us).
local function drop_pieces(key, f, n)
  while redis.call('HDEL', key, f .. '#' .. n) == 1 do
    n = n + 1
  end
end
-- HSET arguments for fields in pieces ([field, [piece...], ...]): F piece1 F#1 piece2 ...
local function pieces_args(fields, args)
  for i = 1, #fields, 2 do
    local f, pieces = fields[i], fields[i + 1]
    args[#args + 1] = f
    args[#args + 1] = pieces[1]
    for n = 2, #pieces do
      args[#args + 1] = f .. '#' .. (n - 1)
      args[#args + 1] = pieces[n]
    end
  end
  return args
end
-- One command with many arguments, in slices that Lua's stack takes (an even size keeps HSET's pairs whole).
local function variadic(command, key, args)
  local size = 4000
  for start = 1, #args, size do
    redis.call(command, key, unpack(args, start, math.min(start + size - 1, #args)))
  end
end
local function drop_left(key, fields)
  for i = 1, #fields, 2 do
    drop_pieces(key, fields[i], #fields[i + 1])
  end
end
local writes = cjson.decode(ARGV[1])
local stride = tonumber(ARGV[2])
local out = {}
local k = 0
for i, w in ipairs(writes) do
  local states = KEYS[k + 2]
  if stride == 5 and redis.call('EXISTS', KEYS[k + 5]) == 1 then
    states = KEYS[k + 5]
  end
  local rev = redis.call('HGET', states, '_rev') or ''
  local n = w[2]
  if rev ~= w[1] then
    out[i] = 0
  else
    if #w[3] > 0 then
      variadic('HSET', KEYS[k + 1], w[3])
    end
    local new_rev = (tonumber(rev) or 0) + 1
    local args = pieces_args(w[4], {})
    args[#args + 1] = '_rev'
    args[#args + 1] = new_rev
    variadic('HSET', states, args)
    drop_left(states, w[4])
    for _, f in ipairs(w[5]) do
      redis.call('HDEL', states, f)
      drop_pieces(states, f, 1)
      redis.call('HDEL', KEYS[k + 4], f)
      drop_pieces(KEYS[k + 4], f, 1)
    end
    if #w[8] > 0 then
      variadic('HSET', KEYS[k + 4], pieces_args(w[8], {}))
      drop_left(KEYS[k + 4], w[8])
    end
    -- ledgers are not stored any more (the fold of the timeline, made again on read): a list an earlier
    -- release stored for a version whose ledger changes now would be stale, so it goes
    for j = 1, n do
      redis.call('UNLINK', KEYS[k + stride + j])
    end
    if #w[6] > 0 then
      variadic('RPUSH', KEYS[k + 3], w[6])
    end
    if #w[7] > 0 then
      variadic('HSET', KEYS[k + 2], w[7])
    end
    out[i] = new_rev
  end
  k = k + stride + n
end
return out
