-- Write the results of scoring contacts, if nobody changed each contact since it was read.
-- On one Redis a call carries many contacts; on a cluster, one (a contact's keys share its slot).
-- KEYS: per contact, in order: 1 timeline, 2 states, 3 outbox, 4 contact doc, 5 horizon, then the ledger
--   lists (as earlier releases stored them) of the versions whose ledger changed: deleted.
-- ARGV[1]: JSON {writes: [{rev, n (its number of ledger keys), timeline, states,
--   drop, outbox, doc, horizon}, ...]}: `rev` is the `_rev` the scorer read ('' when none);
--   timeline {key: record}, states {field: [piece...]} (the state's JSON in pieces of at most 64 bytes, so the
--   hash keeps its compact encoding), drop [field] (from the states with their pieces, and the horizon),
--   outbox [event], doc {field: value}, horizon {field: [piece...]} (checkpoints a refold from the archive
--   made, in pieces like the states; may be absent).
-- Atomic per contact (and the whole call is atomic, which is stronger): a
-- contact whose `_rev` is not the one its scorer read is left untouched and gets 0 in the reply;
-- every other contact gets its timeline, fold states, outbox and doc written together,
-- and its new `_rev` in the reply.
-- A fold state longer than a listpack value is stored in pieces: `F`, `F#1`, `F#2`... (app/storage/timelines.py,
-- PIECE_BYTES); the pieces from `F#n` on that a shorter state left behind go.
local function drop_pieces(key, f, n)
  while redis.call('HDEL', key, f .. '#' .. n) == 1 do
    n = n + 1
  end
end
local p = cjson.decode(ARGV[1])
local out = {}
local k = 0
for i, w in ipairs(p.writes) do
  local states = KEYS[k + 2]
  local rev = redis.call('HGET', states, '_rev') or ''
  if rev ~= w.rev then
    out[i] = 0
  else
    for f, v in pairs(w.timeline) do
      redis.call('HSET', KEYS[k + 1], f, v)
    end
    for f, pieces in pairs(w.states) do
      redis.call('HSET', states, f, pieces[1])
      for n = 2, #pieces do
        redis.call('HSET', states, f .. '#' .. (n - 1), pieces[n])
      end
      drop_pieces(states, f, #pieces)
    end
    for _, f in ipairs(w.drop) do
      redis.call('HDEL', states, f)
      drop_pieces(states, f, 1)
      redis.call('HDEL', KEYS[k + 5], f)
      drop_pieces(KEYS[k + 5], f, 1)
    end
    if w.horizon then
      for f, pieces in pairs(w.horizon) do
        redis.call('HSET', KEYS[k + 5], f, pieces[1])
        for n = 2, #pieces do
          redis.call('HSET', KEYS[k + 5], f .. '#' .. (n - 1), pieces[n])
        end
        drop_pieces(KEYS[k + 5], f, #pieces)
      end
    end
    -- ledgers are not stored any more (the fold of the timeline, made again on read): a list an earlier
    -- release stored for a version whose ledger changes now would be stale, so it goes
    for j = 1, w.n do
      redis.call('UNLINK', KEYS[k + 5 + j])
    end
    for _, e in ipairs(w.outbox) do
      redis.call('RPUSH', KEYS[k + 3], e)
    end
    for f, v in pairs(w.doc) do
      redis.call('HSET', KEYS[k + 4], f, v)
    end
    out[i] = redis.call('HINCRBY', states, '_rev', 1)
  end
  k = k + 5 + w.n
end
return out
