-- Replace archived timeline records by other copies: trimmed ones, which keep only the properties the rules read
-- (app/scoring/kept_properties.py; app/archiving.py calls it once the archive holds the records), or copies that a
-- version published since reads more of, made again from the archive's whole record (app/scorer.py). Atomic per
-- contact.
-- A record is replaced only where it is stored exactly as the archiver knows it (`whole`): one written again since
-- (a repeat, a migration's rewrite) or gone (the hot horizon) is left as it is. A trimmed copy of a record in the
-- contact's timeline hash moves into the contact's hash when it now fits there (record_fields.lua's rf_place), and
-- a timeline hash left empty goes, with the marker that said it may hold records; a copy in the contact's hash that
-- no longer fits there (over 64 B) moves into the timeline hash.
-- The library record_fields.lua is before this script.
-- ARGV[1]: JSON, per contact: [id, key, whole, trimmed, key, whole, trimmed, ...].
-- One Redis: no KEYS; ARGV[2] the JSON [contact head, contact tail, timeline head, timeline tail] that make a contact's
-- names from its id (app/keys.py: contact_parts, timeline_parts), as the drain's scripts do. A cluster: one contact,
-- KEYS 1 its hash, 2 its timeline hash.
-- Returns the number of records replaced.
local trims = cjson.decode(ARGV[1])
local parts = ARGV[2] and cjson.decode(ARGV[2])
local replaced = 0
for c = 1, #trims do
  local items = trims[c]
  local id = items[1]
  local hash, timeline
  if parts then
    hash, timeline = parts[1] .. id .. parts[2], parts[3] .. id .. parts[4]
  else
    hash, timeline = KEYS[2 * c - 1], KEYS[2 * c]
  end
  local apart = {}  -- [key, trimmed, ...] taken out of the timeline hash
  for j = 2, #items, 3 do
    local key, whole, short = items[j], items[j + 1], items[j + 2]
    local field = rf_field(key)
    if redis.call('HGET', hash, field) == whole then
      if #short <= RECORD_VALUE then
        redis.call('HSET', hash, field, short)
      else  -- a copy made whole again that no longer fits the compact hash: into the timeline hash, with the marker
        redis.call('HDEL', hash, field)
        redis.call('HSET', timeline, key, short)
        redis.call('HSET', hash, RECORD_MARKER, '1')
      end
      replaced = replaced + 1
    elseif redis.call('HGET', timeline, key) == whole then
      redis.call('HDEL', timeline, key)
      apart[#apart + 1] = key
      apart[#apart + 1] = short
      replaced = replaced + 1
    end
  end
  if #apart > 0 then
    local inhash, still = {}, {}
    rf_place(apart, redis.call('HLEN', hash), inhash, still)
    for j = 1, #inhash, 200 do
      redis.call('HSET', hash, unpack(inhash, j, math.min(j + 199, #inhash)))
    end
    for j = 1, #still, 200 do
      redis.call('HSET', timeline, unpack(still, j, math.min(j + 199, #still)))
    end
    if redis.call('EXISTS', timeline) == 0 then
      redis.call('HDEL', hash, RECORD_MARKER)
    end
  end
end
return replaced
