-- Accept one request whose interactions all belong to one partition, in one call (the single-Redis path of a
-- webhook or a small API request): the provider secret it was verified with (still the stored one), its replay
-- token, each interaction's contact (found by its identity keys, or created and linked when new), its
-- idempotency key, its stream entry, its counters and the wake mark.
-- Atomic: either the whole request is stored (token claimed, contacts linked, new interactions queued and
-- counted) or nothing is, so a 202 never covers half a request and a refused one leaves nothing behind.
--
-- KEYS[1] stream, KEYS[2] this period's seen set, KEYS[3] wake mark, KEYS[4] the previous period's seen set,
-- KEYS[5] stats hash, KEYS[6] the replay token's key (any key when there is none), KEYS[7] the provider secrets
-- hash; then every key the items and writes below name by their index in KEYS (identity keys, the new
-- contact's document and indexes...).
-- ARGV: wake mark ttl (s), seen set ttl (s), replay token ttl (s; '' when there is no token), the provider
--   secrets field to check ('' for no check), the SHA-1 of its text as the caller read it ('' when none), then
--   a write block run always (aliases), then a count and that many (stats field, amount) pairs, then a count and
--   that many items: email identity key index (0: none), external-id identity key index (0: none), the contact
--   id the item is for, its idempotency key, its stream payload, its stats field when accepted, its stats field
--   when a duplicate, the write block that links a new email to the contact, the one that links a new external id.
-- A write block: a count, then per write: command, key index, argument count, arguments (one key each: HSETNX,
--   ZADD, SADD, SET).
-- Returns {'stale'} (the provider's stored secret changed since the caller read it: verify again),
-- {'replayed'} (the token was claimed before), {'moved'} (an identity names another contact than the item's:
-- the caller takes the multi-step path) — all having written nothing — or {'ok', one 1 (accepted) or
-- 0 (duplicate) per item..., 1 when a drain job must be queued (the wake mark is now set) else 0}.
local pos = 6  -- after the five fixed arguments
local function take()
  local value = ARGV[pos]
  pos = pos + 1
  return value
end
local function block()  -- the position of a write block, skipped over
  local start = pos
  local n = tonumber(take())
  for _ = 1, n do
    pos = pos + 2
    local argc = tonumber(take())
    pos = pos + argc
  end
  return start
end
local function run(start)
  local at = start
  local n = tonumber(ARGV[at])
  at = at + 1
  for _ = 1, n do
    local command, key, argc = ARGV[at], KEYS[tonumber(ARGV[at + 1])], tonumber(ARGV[at + 2])  -- no take(): fixed order
    redis.call(command, key, unpack(ARGV, at + 3, at + 2 + argc))
    at = at + 3 + argc
  end
end

local wake_ttl, seen_ttl, token_ttl, secret_field, secret_digest = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local always = block()
local counts = {}
for _ = 1, tonumber(take()) do
  local name = take()  -- one statement per take(): Lua does not order the parts of an expression
  counts[#counts + 1] = {name, take()}
end
local items = {}
for _ = 1, tonumber(take()) do
  local item = {}
  item.email = tonumber(take())
  item.ext = tonumber(take())
  item.contact = take()
  item.key = take()
  item.payload = take()
  item.accepted = take()
  item.duplicate = take()
  item.link_email = block()
  item.link_ext = block()
  items[#items + 1] = item
end

-- Checks first: nothing is written unless the whole request can be stored here.
if secret_field ~= '' then
  local doc = redis.call('HGET', KEYS[7], secret_field)
  if (doc and redis.sha1hex(doc) or '') ~= secret_digest then
    return {'stale'}
  end
end
if token_ttl ~= '' and redis.call('EXISTS', KEYS[6]) == 1 then
  return {'replayed'}
end
local stored, linking = {}, {}
local function known(index)  -- the contact an identity names (stored, or linked by an earlier item), or false
  if index == 0 then
    return false
  end
  if stored[index] == nil then
    stored[index] = redis.call('GET', KEYS[index])
  end
  return stored[index] or linking[index] or false
end
for _, item in ipairs(items) do
  local by_email, by_ext = known(item.email), known(item.ext)
  local contact = by_email or by_ext or item.contact  -- the email wins, as in ContactStore.resolve_contacts
  if contact ~= item.contact then
    return {'moved'}
  end
  item.new_email = item.email > 0 and not by_email
  item.new_ext = item.ext > 0 and not by_ext
  if item.new_email then linking[item.email] = contact end
  if item.new_ext then linking[item.ext] = contact end
end

if token_ttl ~= '' then
  redis.call('SET', KEYS[6], '1', 'EX', tonumber(token_ttl))
end
run(always)
local out = {'ok'}
local accepted = 0
for _, item in ipairs(items) do
  if item.new_email then
    redis.call('SET', KEYS[item.email], item.contact)
    run(item.link_email)
  end
  if item.new_ext then
    redis.call('SET', KEYS[item.ext], item.contact)
    run(item.link_ext)
  end
  if redis.call('SISMEMBER', KEYS[4], item.key) == 0 and redis.call('SADD', KEYS[2], item.key) == 1 then
    redis.call('XADD', KEYS[1], '*', 'k', item.key, 'd', item.payload)
    redis.call('HINCRBY', KEYS[5], item.accepted, 1)
    out[#out + 1] = 1
    accepted = accepted + 1
  else
    redis.call('HINCRBY', KEYS[5], item.duplicate, 1)
    out[#out + 1] = 0
  end
end
for _, count in ipairs(counts) do
  redis.call('HINCRBY', KEYS[5], count[1], tonumber(count[2]))
end
local wake = 0
if accepted > 0 then
  redis.call('EXPIRE', KEYS[2], tonumber(seen_ttl))
  if redis.call('SET', KEYS[3], '1', 'NX', 'EX', tonumber(wake_ttl)) then
    wake = 1
  end
end
out[#out + 1] = wake
return out
