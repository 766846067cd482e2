-- Retire one version from these contacts (TimelineStore.drop_version): its fold state's pieces, its checkpoint's
-- and its ledger list of releases before deleted, and the contact's `_rev` moved, whether or not it held any of
-- them. Atomic per contact: a scorer that read the contact before this call (and so may have read the versions
-- before the switch this retirement follows, Scorer._versions) loses its write's race and reads the contact and the
-- versions again; one that reads it after reads the versions after the switch. Moved only where it held pieces (a
-- pipeline: the keys read, then the writes), a contact with no state of the version yet — its first interaction
-- being scored — kept the retired state the racing batch wrote after the retirement passed it.
--
-- KEYS: per contact, 4 keys: its hash, its states' hash of releases before (where `_rev` is while it exists: it holds
-- the states, apply_batch.lua), its horizon hash, its ledger list of the version. ARGV[1]: the version's field
-- (PROFILE@VERSION); its pieces are that field and FIELD#N. Neither hash is created: `_rev` moves in one that exists.
-- ARGV[2], ARGV[3] (one Redis only): the migrations hash and activity-none-explicit's name. A contact hash without
-- `la` holds what its states derive once that is recorded (latest_activity.lua, the library before this script):
-- where the state that goes takes that away, `la` is written first as it was (empty for none); a cluster never
-- leaves `la` out, so reads a missing field as none.
local field = ARGV[1]
local mark = field .. '#'
local function drop_pieces(key)
  local pieces = {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if f == field or string.sub(f, 1, #mark) == mark then pieces[#pieces + 1] = f end
  end
  if #pieces > 0 then redis.call('HDEL', key, unpack(pieces)) end
end
local derive = ARGV[2] and {ARGV[2], ARGV[3]} or false
-- keep the contact's latest activity through the state's going: `la` written where what the states derive moves
local function keep_activity(hash)
  local flat = redis.call('HGETALL', hash)
  local la, left = false, {}
  for j = 1, #flat, 2 do
    local f = flat[j]
    if f == 'la' then la = flat[j + 1] end
    if f ~= field and string.sub(f, 1, #mark) ~= mark then
      left[#left + 1] = f
      left[#left + 1] = flat[j + 1]
    end
  end
  if la then return end
  local held = la_read(hash, derive, la)
  local after = la_derive(left)
  if held ~= after then redis.call('HSET', hash, 'la', held and string.format('%d', held) or '') end
end
for i = 1, #KEYS, 4 do
  local hash, before = KEYS[i], KEYS[i + 1]
  if redis.call('HEXISTS', hash, field) == 1 then keep_activity(hash) end
  if redis.call('EXISTS', before) == 1 then
    redis.call('HINCRBY', before, '_rev', 1)
  elseif redis.call('EXISTS', hash) == 1 then
    redis.call('HINCRBY', hash, '_rev', 1)
  end
  drop_pieces(hash)
  drop_pieces(before)
  drop_pieces(KEYS[i + 2])
  redis.call('DEL', KEYS[i + 3])
end
return #KEYS / 4
