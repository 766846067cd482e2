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
