-- Write the result of scoring one contact, if nobody changed the contact since it was read.
-- KEYS: 1 timeline, 2 states, 3 outbox, 4 contact doc, 5.. ledgers (all in the {c:ID} slot).
-- ARGV[1]: the `_rev` the scorer read ('' when none); ARGV[2]: JSON of
--   {timeline: {key: record}, states: {field: json}, drop: [field],
--    ledgers: [[reset(0/1), [entry, ...oldest first]], ...] (one per ledger key, same order),
--    outbox: [event, ...], doc: {field: value}, ledger_max: N}
-- Atomic: the timeline, every profile's fold state, the ledgers and the outbox move together,
-- or not at all (returns 0: re-read and score again). Returns the new _rev otherwise.
local rev = redis.call('HGET', KEYS[2], '_rev') or ''
if rev ~= ARGV[1] then
  return 0
end
local p = cjson.decode(ARGV[2])
for k, v in pairs(p.timeline) do
  redis.call('HSET', KEYS[1], k, v)
end
for f, v in pairs(p.states) do
  redis.call('HSET', KEYS[2], f, v)
end
for _, f in ipairs(p.drop) do
  redis.call('HDEL', KEYS[2], f)
end
for i, l in ipairs(p.ledgers) do
  local key = KEYS[4 + i]
  if l[1] == 1 then
    redis.call('DEL', key)
  end
  for _, e in ipairs(l[2]) do
    redis.call('LPUSH', key, e)
  end
  redis.call('LTRIM', key, 0, p.ledger_max - 1)
end
for _, e in ipairs(p.outbox) do
  redis.call('RPUSH', KEYS[3], e)
end
for f, v in pairs(p.doc) do
  redis.call('HSET', KEYS[4], f, v)
end
return redis.call('HINCRBY', KEYS[2], '_rev', 1)
