-- The library of a timeline record's place (app/storage/timelines.py: record_field, record_key, place_records),
-- put before each script that reads or writes records. A record `source:id` -> JSON lives in its contact's hash
-- (Keys.contact) as the field '~' .. the id with '%' written '%25' and '@' written '%40' (so the field starts with a
-- byte no other field of the hash starts with, and holds no '@': a release before, reading the hash, never takes it
-- for a fold state) — while the field and the value are each within a listpack value (64 B) and the hash has fewer
-- than RECORD_ROOM fields; a record that does not fit stays in (or goes to) the contact's timeline hash
-- (Keys.timeline) under its `source:id`, and the contact's hash gets the marker field '~' (an empty id: no record
-- has one), which says the timeline hash may hold records. So one long record or a long history never turns the
-- contact's hash, document and fold states included, into a hash table.
local RECORD_VALUE = 64
local RECORD_ROOM = 100
local RECORD_MARKER = '~'
local rf_find, rf_gsub, rf_sub = string.find, string.gsub, string.sub
local RF_ESCAPE = {['%'] = '%25', ['@'] = '%40'}
local RF_UNESCAPE = {['25'] = '%', ['40'] = '@'}
local function rf_field(key)
  if rf_find(key, '[%%@]') then
    key = (rf_gsub(key, '[%%@]', RF_ESCAPE))
  end
  return '~' .. key
end
local function rf_key(field)
  local body = rf_sub(field, 2)
  if rf_find(body, '%', 1, true) then
    body = (rf_gsub(body, '%%(%d%d)', RF_UNESCAPE))
  end
  return body
end
-- Split records [key, value, ...] by place: the contact hash's HSET arguments (appended to `inhash`) and the
-- timeline hash's (`apart`), given `len` fields in the contact's hash. Returns the hash's length after.
local function rf_place(records, len, inhash, apart)
  for j = 1, #records, 2 do
    local f, v = rf_field(records[j]), records[j + 1]
    if len < RECORD_ROOM and #f <= RECORD_VALUE and #v <= RECORD_VALUE then
      inhash[#inhash + 1] = f
      inhash[#inhash + 1] = v
      len = len + 1
    else
      apart[#apart + 1] = records[j]
      apart[#apart + 1] = v
    end
  end
  return len
end
-- The records [key, value, ...] of a contact's timeline hash (`flat`, as HGETALL gave it) settled again: those that
-- fit into the contact's hash, the rest written anew into the timeline hash (so Redis picks its encoding again),
-- with the marker when any are left there (else without it).
local function rf_settle(hash, timeline, flat)
  local inhash, apart = {}, {}
  redis.call('HDEL', hash, RECORD_MARKER)
  rf_place(flat, redis.call('HLEN', hash), inhash, apart)
  redis.call('DEL', timeline)
  if #apart > 0 then
    inhash[#inhash + 1] = RECORD_MARKER
    inhash[#inhash + 1] = '1'
    for j = 1, #apart, 200 do
      redis.call('HSET', timeline, unpack(apart, j, math.min(j + 199, #apart)))
    end
  end
  for j = 1, #inhash, 200 do
    redis.call('HSET', hash, unpack(inhash, j, math.min(j + 199, #inhash)))
  end
end

-- A contact's hash stays a listpack while it has at most LISTPACK_ENTRIES fields (Redis's default
-- `hash-max-listpack-entries`, assumed: app/storage/timelines.py, LISTPACK_ENTRIES); past it Redis makes the whole
-- hash a hash table, for good. Records never take it there: a script that adds fields other than records
-- (apply_batch.lua: fold states' pieces, `_rev`, `la`, the document) first moves records out to the timeline hash
-- (with the marker) until the hash, those fields added, has at most LISTPACK_ENTRIES - DOC_ROOM fields, or holds no
-- record. DOC_ROOM is left for the document fields written outside the scripts (email, external_id, the creation time,
-- name, company, `la`, `dnd:` channels), which make no room.
-- A hash written anew with `args` [field, value, ...] (DEL, then every field), so Redis picks its encoding again: a
-- hash that once was a hash table stays one for good, even when it becomes short.
local function rf_write_anew(key, args)
  redis.call('DEL', key)
  for j = 1, #args, 200 do
    redis.call('HSET', key, unpack(args, j, math.min(j + 199, #args)))
  end
end
local LISTPACK_ENTRIES = 128
local DOC_ROOM = 12
-- Make room in `hash` (of `len` fields) for `adding` more that are not records, moving records to `timeline`.
-- Returns the hash's length after. Called only where `_rev` moves with it (a reader outside a script reads the
-- timeline hash first, then the contact's, and reads again when `_rev` moved between: TimelineStore.stored_timelines).
local function rf_make_room(hash, timeline, len, adding)
  local over = len + adding - (LISTPACK_ENTRIES - DOC_ROOM)
  if over <= 0 then
    return len
  end
  local flat = redis.call('HGETALL', hash)
  local byte = string.byte
  local fields, apart, marked = {}, {}, false
  for j = 1, #flat, 2 do
    local f = flat[j]
    if f == RECORD_MARKER then
      marked = true
    elseif byte(f, 1) == 126 then
      fields[#fields + 1] = f
      apart[#apart + 1] = rf_key(f)
      apart[#apart + 1] = flat[j + 1]
    end
  end
  if #fields == 0 then
    return len
  end
  if not marked then
    over = over + 1
  end
  local n = math.min(over, #fields)
  redis.call('HSET', timeline, unpack(apart, 1, 2 * n))
  if redis.call('OBJECT', 'ENCODING', hash) == 'hashtable' then
    -- (a hash a release before let records take past the bound) written anew, so Redis picks its encoding again
    local moved, keep = {}, {RECORD_MARKER, '1'}
    for j = 1, n do
      moved[fields[j]] = true
    end
    for j = 1, #flat, 2 do
      if not moved[flat[j]] and flat[j] ~= RECORD_MARKER then
        keep[#keep + 1] = flat[j]
        keep[#keep + 1] = flat[j + 1]
      end
    end
    rf_write_anew(hash, keep)
  else
    redis.call('HDEL', hash, unpack(fields, 1, n))
    if not marked then
      redis.call('HSET', hash, RECORD_MARKER, '1')
    end
  end
  return len - n + (marked and 0 or 1)
end

-- A contact's hash as HGETALL gave it (`flat`) without its records and their marker (every field that begins with
-- '~'): what a page shows is the document and the scores, and a busy contact's records would be most of the reply
-- for the client to parse and drop. A hash without a record is returned as it is (no copy): one pass of a byte
-- compare a field.
local function rf_without_records(flat)
  local byte = string.byte
  local first
  for i = 1, #flat, 2 do
    if byte(flat[i], 1) == 126 then
      first = i
      break
    end
  end
  if not first then
    return flat
  end
  local out = {}
  for i = 1, first - 1 do
    out[i] = flat[i]
  end
  for i = first, #flat, 2 do
    local f = flat[i]
    if byte(f, 1) ~= 126 then
      out[#out + 1] = f
      out[#out + 1] = flat[i + 1]
    end
  end
  return out
end
