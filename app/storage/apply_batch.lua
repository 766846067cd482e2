-- Write the results of scoring contacts, if nobody changed each contact since it was read.
-- On one Redis a call carries many contacts; on a cluster, one (a contact's keys share its slot).
-- A contact's keys: 1 timeline hash, 2 its hash (document, fold states, records), 3 outbox, 4 horizon, and while the
--   fold states of releases before may be left (ARGV[2] is 5, not 4) 5 their hash (the states are there while it
--   exists: app/contact_layout.py moves them; once it recorded the move finished, the key is not looked at); then
--   the ledger lists (as earlier releases stored them) of the versions whose ledger changed: deleted.
-- On a cluster they are KEYS, per contact in that order (its ledgers' after its 4 or 5); on one Redis no key is
--   declared (ARGV[3] and ARGV[4] are there): each name is made here from the contact's id, only when it is used
--   (packing a name as an argument cost the worker ~1,600 instructions; docs/performance.md, row 1, "keyargs").
-- ARGV[1]: JSON array, per contact, [rev, ledgers, timeline, states, drop, outbox, doc, horizon]: `rev` the `_rev`
--   the scorer read ('' when none), ledgers the `PROFILE@VERSION` of each ledger list to delete, timeline [key,
--   record, ...] (new records: each goes
--   into the contact's hash, or the timeline hash when it does not fit, by record_fields.lua's rf_place), states
--   [field, [piece...],
--   ...] (the state's JSON in pieces of at most 64 bytes, so the hash keeps its compact encoding), drop [field]
--   (from the states with their pieces, and the horizon), outbox [event], doc [field, value, ...], horizon
--   [field, [piece...], ...] (checkpoints a refold from the archive made, in pieces like the states).
-- ARGV[2]: the number of keys per contact before its ledgers (4 or 5).
-- ARGV[3] (one Redis only): JSON array of the contacts' ids, in the order of ARGV[1]; ARGV[4]: JSON array of the
--   text before and after the id in each key's name, in the order above, the ledgers' last ([head1, tail1, ...];
--   a ledger's name is its head, the id, its tail and the `PROFILE@VERSION`: app/keys.py, `Keys.ledger_parts`).
-- ARGV[5..9] (one Redis only; absent on a cluster, whose index is written from Python: app/storage/activity.py):
--   the latest-activity index's MAX (entries per leaf), G (its granule, ms), the text before and after a bucket's
--   number in its base name, the text before a bucket's number in the sorted set of releases before ('' once
--   activity_once recorded their move); ARGV[12] and ARGV[13] (one Redis only) the migrations hash and
--   activity-none-explicit's name (once recorded, `la` is left out where the states say it, and a hash without it
--   holds what they say: asked once a call, when needed).
--   A write's [9] T and [10] B (B a text: a number joined to a name costs a `%.14g`; false, false when the batch brought it no activity, and always on a cluster): the
--   contact was active at T (ms), it is of bucket B. Its hash's `la` becomes the
--   latest of T, `la` and its entry in the old set (which goes); its index entry moves only when that time's
--   granule (the time less its remainder by G) changed. The library (ordered_index.lua) is before this script; the
--   index and old set are not declared (one Redis only). docs/performance.md, "Row 5a (2026-12-04 late)".
--   A write with no activity has false at [9] and [10].
-- The score index (app/storage/score_base.py), so that a crash between a contact's states and its index write
--   cannot leave a wrong entry: on one Redis ARGV[10] and ARGV[11] are the text before a score index's
--   `PROFILE@VERSION:BUCKET` (`Keys.score_index`) and the workspace's prefix (its stale set is PREFIX:{HOT}:stale),
--   and a write's [11] is [B, V, NEW, HELD, ...] (texts): in version V (`PROFILE@VERSION`) its score moved from HELD (the one
--   its fold state held, which the index holds) to NEW ('' for none), written here as score_write.lua writes it (score_entry.lua).
--   On a cluster (the index is in other slots) a write's [11] is the text of the scores the index may still hold
--   the contact at (app/storage/score_base.py, `pending_text`) and its last key (after its ledgers) the contact's
--   pending key (`Keys.score_pending`): set to `REV|TEXT` (REV its new `_rev`) with the states, deleted by the
--   drain once the index write was made (`score_pending.lua`); a read that finds it repairs the index.
--   A write's [12]: what the states it keeps as read derive (false: none; storage/activity.py, kept_activity); the
--   script derives the others' from the first pieces of those it replaces or drops (read with `_rev`) and of those
--   it writes (latest_activity.lua, the library after record_fields.lua). `la` ends as the latest activity's time,
--   left out where that record is there and the states after the write say the same, empty where there is none
--   and the states would say one, absent where neither says one: every write keeps `la` and the states saying the
--   contact's latest activity.
--   docs/performance.md, "Row 5a (2026-12-06): the latest activity's field where the states say it".
--   A write's [13] (one Redis, optional): what every state the worker read derives (false: none), exact when `_rev`
--   is the one read: then the states it replaces are not read here (docs/performance.md, "Row 1 (2026-12-06,
--   late)").
-- Atomic per contact (and the whole call is atomic, which is stronger): a
-- contact whose `_rev` is not the one its scorer read is left untouched and gets 0 in the reply;
-- every other contact gets its timeline, fold states, outbox and doc written together,
-- and its new `_rev` (one more than read: set with the states) in the reply.
-- The libraries ordered_index.lua, record_fields.lua and score_entry.lua are before this script.
-- A fold state longer than a listpack value is stored in pieces: `F`, `F#1`, `F#2`... (app/storage/timelines.py,
-- PIECE_BYTES); the pieces from `F#n` on that a shorter state left behind go.
-- Each hash and list is written with one variadic command per contact (a redis.call costs ~1-2 us).
-- '#N', a piece's suffix, made once a call for the first pieces: a number joined to a string is written by
-- `%.14g`, ~1-2k instructions each (a state of 300 B has 5 pieces, and every write asks for the piece after its last)
local SUFFIX = {}
for n = 1, 24 do SUFFIX[n] = '#' .. n end
local function piece_name(f, n)
  return f .. (SUFFIX[n] or '#' .. n)
end
local function drop_pieces(key, f, n)
  while redis.call('HDEL', key, piece_name(f, n)) == 1 do
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
      args[#args + 1] = piece_name(f, n - 1)
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
local ids = ARGV[3] and cjson.decode(ARGV[3])
local parts = ids and cjson.decode(ARGV[4])
local oi_max, g, ac_head, ac_tail = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]
local before = ARGV[9]
local sc_head, sc_prefix = ARGV[10], ARGV[11]
-- (one Redis) the contact's score index entries: sc = [B, V, NEW, HELD, ...], every one text (a number handed to
-- redis.call is written by `%.17g`), gathered by bucket (score_entry.lua's se_gather) and written at the end of the
-- call (se_flush): a bucket's skiplist touched once a call. The call is atomic, so no reader sees the states
-- without their index entries; an error between (none is known: the call's writes are not refused once one was
-- made) would leave the entries of the contacts before it unwritten.
local score_groups, score_order = {}, {}
local function score(sc, id)
  local by_version = score_groups[sc[1]]
  if not by_version then
    by_version = {}
    score_groups[sc[1]] = by_version
  end
  for j = 2, #sc, 3 do
    local g = by_version[sc[j]]
    if not g then
      local hot = sc_head .. sc[j] .. ':' .. sc[1]
      g = {hot = hot, stale = sc_prefix .. ':{' .. hot .. '}:stale', moved = {}, held = {}, added = {}}
      by_version[sc[j]] = g
      score_order[#score_order + 1] = g
    end
    se_gather(g, id, sc[j + 1], sc[j + 2])
  end
end
local derive = ARGV[12] and {ARGV[12], ARGV[13]} or false  -- (false on a cluster: `la` never left out there)
-- whether activity-none-explicit is recorded (asked once a call)
local function derives()
  if derive and derive.known == nil then derive.known = redis.call('HEXISTS', derive[1], derive[2]) == 1 end
  return derive and derive.known
end
-- the newest la_entry_at of values' first pieces (the states a write replaces, read: false where none) and of w's
-- states (w[4]: [field, [piece...], ...]), and n, a time already known
local function newest(n, values, w4)
  for j = 1, #values do
    local at = values[j] and la_entry_at(values[j])
    if at and (not n or at > n) then n = at end
  end
  for j = 2, #w4, 2 do
    local at = la_entry_at(w4[j][1])
    if at and (not n or at > n) then n = at end
  end
  return n
end
-- the contact's latest activity moved to t, returned: the index entry of bucket b moved when the granule changed;
-- cur is its latest activity as held (nil: none)
local id  -- the contact's id (ARGV[3]: one Redis, the only place this is called)
local function raise(cur, t, b)
  local c = id
  local new = t
  if cur and cur > new then new = cur end
  if before ~= '' then
    local old = redis.call('ZSCORE', before .. b, c)
    if old then
      redis.call('ZREM', before .. b, c)
      old = tonumber(old)
      if old > new then new = old end
    end
  end
  if new == cur then return new end
  local gnew = new - new % g
  local base = ac_head .. b .. ac_tail
  if cur == nil then
    oi_add(base, gnew, c, oi_max)
  elseif cur - cur % g ~= gnew then
    oi_move(base, cur - cur % g, gnew, c, oi_max)
  end
  return new
end
-- what write w leaves in its contact's `la` (nil: no field), its latest activity raised by w[9]; la is the field
-- read (false: none; empty: none), old the first pieces of the states w replaces or drops, as read
local function activity_field(w, la, old)
  local kept = w[12] or nil
  local cur
  if la then
    cur = la_time(la)  -- (nil for empty or corrupt, as every reader takes it: tonumber would read "9e15")
  elseif derives() then  -- the time the states said before this write (w[13]: as the worker read them)
    if w[13] ~= nil then cur = w[13] or nil else cur = newest(kept, old, {}) end
  end
  local new = cur
  if w[9] then new = raise(cur, w[9], w[10]) end
  if new and not derives() then return string.format('%d', new) end
  local after = newest(kept, {}, w[4])  -- what the states say after it
  if new then
    if new == after then return nil end
    return string.format('%d', new)
  end
  if after then return '' end
  return nil
end
local out = {}
local k = 0  -- (on a cluster) the contact's first key's place in KEYS, less one
local i
-- the contact's key n (1 timeline hash, 2 its hash, 3 outbox, 4 horizon, 5 old states hash)
local function key(n)
  if ids then return parts[2 * n - 1] .. id .. parts[2 * n] end
  return KEYS[k + n]
end
-- the ledger list of the contact's j-th ledger, `PROFILE@VERSION` v
local function ledger(j, v)
  if ids then return parts[11] .. id .. parts[12] .. v end
  return KEYS[k + stride + j]
end
-- The fields other than records write `w` may add to the contact's hash (its states' pieces, `_rev`, `la`, the
-- document), room made for them first (record_fields.lua: rf_make_room) when they could take the hash past its
-- listpack bound. Returns the length to place the new records by.
local function make_room(hash, w, adds_la)
  local len = redis.call('HLEN', hash)
  local bound = 1 + (adds_la and 1 or 0) + #w[7] / 2
  for j = 2, #w[4], 2 do
    bound = bound + #w[4][j]
  end
  if math.max(len, RECORD_ROOM) + 1 + bound <= LISTPACK_ENTRIES - DOC_ROOM then
    return len  -- records take it to RECORD_ROOM at most, the marker and every field added the bound
  end
  local names = {'_rev', 'la'}
  for j = 1, #w[4], 2 do
    names[#names + 1] = w[4][j]
    for n = 1, #w[4][j + 1] - 1 do
      names[#names + 1] = piece_name(w[4][j], n)
    end
  end
  for j = 1, #w[7], 2 do
    names[#names + 1] = w[7][j]
  end
  local got = redis.call('HMGET', hash, unpack(names))
  local adding = 0
  for j = 1, #names do
    if not got[j] and (j ~= 2 or adds_la) then
      adding = adding + 1
    end
  end
  return rf_make_room(hash, key(1), len, adding) + adding
end
for at, w in ipairs(writes) do
  i, id = at, ids and ids[at]
  local hash = key(2)
  local states = hash
  if stride == 5 then
    local old = key(5)
    if redis.call('EXISTS', old) == 1 then states = old end
  end
  local rev, la, old
  if states == hash then  -- `la` read with `_rev` (and the states replaced or dropped): no call more for it
    local names = {'_rev', 'la'}
    if w[13] == nil and derives() then  -- (w[13]: what the states read derive, sent: none of them read here)
      for j = 1, #w[4], 2 do names[#names + 1] = w[4][j] end
      for j = 1, #w[5] do names[#names + 1] = w[5][j] end
    end
    local got = redis.call('HMGET', states, unpack(names))
    rev, la = got[1] or '', got[2]
    old = {unpack(got, 3)}
  else
    rev = redis.call('HGET', states, '_rev') or ''
    if w[9] then la = redis.call('HGET', hash, 'la') end
  end
  if rev ~= w[1] then
    out[i] = 0
  else
    local args, apart = {}, {}
    local len, want
    if states == hash then
      want = activity_field(w, la, old)
      len = make_room(hash, w, want ~= nil and not la)
    end
    if #w[3] > 0 then
      -- the records that fit go into the contact's hash (with the states, in one HSET, while that is where they are)
      local inhash = states == hash and args or {}
      rf_place(w[3], len or redis.call('HLEN', hash), inhash, apart)
      if #apart > 0 then
        variadic('HSET', key(1), apart)
        inhash[#inhash + 1] = RECORD_MARKER
        inhash[#inhash + 1] = '1'
      end
      if inhash ~= args and #inhash > 0 then
        variadic('HSET', hash, inhash)
      end
    end
    local new_rev = (tonumber(rev) or 0) + 1
    local rev_text = string.format('%d', new_rev)  -- (not `%.17g`, what redis.call writes a number by)
    pieces_args(w[4], args)
    args[#args + 1] = '_rev'
    args[#args + 1] = rev_text
    if states == hash then
      if want == nil then
        if la then redis.call('HDEL', hash, 'la') end
      elseif want ~= la then
        args[#args + 1] = 'la'
        args[#args + 1] = want
      end
    elseif w[9] then  -- (the states in the hash of releases before: `la` always kept)
      local cur = la and la_time(la) or nil
      local new = raise(cur, w[9], w[10])
      if new ~= cur then redis.call('HSET', hash, 'la', string.format('%d', new)) end
    end
    variadic('HSET', states, args)
    drop_left(states, w[4])
    local horizon = (#w[5] > 0 or #w[8] > 0) and key(4)
    for _, f in ipairs(w[5]) do
      redis.call('HDEL', states, f)
      drop_pieces(states, f, 1)
      redis.call('HDEL', horizon, f)
      drop_pieces(horizon, f, 1)
    end
    if #w[8] > 0 then
      variadic('HSET', horizon, pieces_args(w[8], {}))
      drop_left(horizon, w[8])
    end
    -- ledgers are not stored any more (the fold of the timeline, made again on read): a list an earlier
    -- release stored for a version whose ledger changes now would be stale, so it goes
    for j, v in ipairs(w[2]) do
      redis.call('UNLINK', ledger(j, v))
    end
    if #w[6] > 0 then
      variadic('RPUSH', key(3), w[6])
    end
    if #w[7] > 0 then
      variadic('HSET', hash, w[7])
    end
    if w[11] then
      if ids then
        score(w[11], id)
      else
        redis.call('SET', KEYS[k + stride + #w[2] + 1], rev_text .. '|' .. w[11])
      end
    end
    out[i] = new_rev
  end
  k = k + stride + #w[2] + ((w[11] and not ids) and 1 or 0)
end
for _, g in ipairs(score_order) do se_flush(g) end
return out
