-- Accept one request whose interactions all belong to one partition, in one call (the single-Redis path of a
-- webhook or a small API request): the provider secret it was verified with (still the stored one), its replay
-- token, each interaction's contact (found by its identity keys, or created and linked when new), its
-- idempotency key, its stream entry, its counters and the wake mark.
-- Atomic: either the whole request is stored (token claimed, contacts linked, new interactions queued and
-- counted) or nothing is, so a 202 never covers half a request and a refused one leaves nothing behind.
--
-- KEYS[1] stream, KEYS[2] this period's seen set as releases before the seen buckets wrote it, KEYS[3] wake mark,
-- KEYS[4] the previous period's such set (both only read, until they expire), KEYS[5] stats hash, KEYS[6] the replay token's key (any key when there is none), KEYS[7] the provider secrets
-- hash; then every key the items and writes below name by their index in KEYS (identity keys, the new
-- contact's document and indexes...).
-- ARGV[1]: the plan, JSON (one argument, decoded here, costs the caller far less than one argument per value):
--   {"wake": mark ttl s, "seen": seen set ttl s, "token": replay token ttl s (0: no token), "secret": provider
--   secrets field to check ("": no check), "digest": SHA-1 of its text as the caller read it ("": none stored),
--   "always": writes made whatever happens (aliases), "counts": [[stats field, amount]...], "items": [[email
--   identity key index (0: none), external-id identity key index (0: none), the contact id the item is for, its
--   idempotency key, its stats field when accepted, when a duplicate, the writes that link a new email to the
--   contact (false: none planned, the caller believed it linked), the writes that link a new external id (likewise), its seen bucket of this period and of the previous one
--   (key indexes), its member in them (a 64-bit hash as text, partitions.seen_entry), the key index of the
--   contact's hash when the item has an email (0: none) — an email without an identity key names the contact it
--   derives, the item's contact, when that hash exists — whether linking a new email writes its identity key
--   (false: the contact's creation by the link writes says it, ContactStore.email_key_implied), [14] the key index
--   of the hash of the other contact the email derives (its long id where the item's is short, or the converse:
--   contact_id_for; 0: not looked for, the email is known linked) and that contact's id — the email names it when
--   it exists and the item's contact does not ([15])]...]. A write: [command, key index, arguments...] (one
--   key each: HSETNX, ZADD, SADD, SET; arguments as text). ARGV[1 + i]: item i's stream payload.
-- Returns {'stale'} (the provider's stored secret changed since the caller read it: verify again),
-- {'replayed'} (the token was claimed before), {'moved'} (an identity names another contact than the item's:
-- the caller takes the multi-step path), {'unplanned'} (an identity is new but its link writes were not sent:
-- the caller plans them and calls again) — all having written nothing — or {'ok', one 1 (accepted) or
-- 0 (duplicate) per item..., 1 when a drain job must be queued (the wake mark is now set) else 0}.
local plan = cjson.decode(ARGV[1])
local items = plan.items  -- each item's fields by position (above); [16] and [17] set below: new email, new ext id
local function run(writes)
  for i = 1, #writes do
    local write = writes[i]
    redis.call(write[1], KEYS[write[2]], unpack(write, 3))
  end
end

-- Checks first: nothing is written unless the whole request can be stored here.
if plan.secret ~= '' then
  local doc = redis.call('HGET', KEYS[7], plan.secret)
  if (doc and redis.sha1hex(doc) or '') ~= plan.digest then
    return {'stale'}
  end
end
local token = plan.token
if token > 0 and redis.call('EXISTS', KEYS[6]) == 1 then
  return {'replayed'}
end
local stored, linking = {}, {}
-- The contact an identity names (its key's; for an email without one, the item's contact when its hash at index
-- `derived` exists, else `other_id` when its hash at index `other` exists; or linked by an earlier item), or false.
local function known(index, derived, contact, other, other_id)
  if index == 0 then
    return false
  end
  local found = stored[index]
  if found == nil then
    found = redis.call('GET', KEYS[index])
    if not found and derived > 0 then
      if redis.call('EXISTS', KEYS[derived]) == 1 then
        found = contact
      elseif other > 0 and redis.call('EXISTS', KEYS[other]) == 1 then
        found = other_id
      end
    end
    stored[index] = found
  end
  return found or linking[index] or false
end
for i = 1, #items do
  local item = items[i]
  local email, ext, contact = item[1], item[2], item[3]
  local by_email, by_ext = known(email, item[12], contact, item[14], item[15]), known(ext, 0, contact, 0, nil)
  if (by_email or by_ext or contact) ~= contact then  -- the email wins, as in ContactStore.resolve_contacts
    return {'moved'}
  end
  local new_email, new_ext = email > 0 and not by_email, ext > 0 and not by_ext
  if (new_email and not item[7]) or (new_ext and not item[8]) then
    return {'unplanned'}
  end
  if new_email then linking[email] = contact end
  if new_ext then linking[ext] = contact end
  item[16], item[17] = new_email, new_ext
end

if token > 0 then
  redis.call('SET', KEYS[6], '1', 'EX', token)
end
run(plan.always)
local out = {'ok'}
local accepted = 0
local written = {}
local legacy = redis.call('EXISTS', KEYS[2], KEYS[4]) > 0  -- sets of the release before: read while they live
for i = 1, #items do
  local item = items[i]
  local key, seen_now, member = item[4], KEYS[item[9]], item[11]
  if item[16] then
    if item[13] then
      redis.call('SET', KEYS[item[1]], item[3])
    end
    run(item[7])
  end
  if item[17] then
    redis.call('SET', KEYS[item[2]], item[3])
    run(item[8])
  end
  if not (legacy and (redis.call('SISMEMBER', KEYS[4], key) == 1 or redis.call('SISMEMBER', KEYS[2], key) == 1))
      and redis.call('SISMEMBER', KEYS[item[10]], member) == 0
      and redis.call('SADD', seen_now, member) == 1 then
    redis.call('XADD', KEYS[1], '*', 'k', key, 'd', ARGV[1 + i])
    written[seen_now] = true
    redis.call('HINCRBY', KEYS[5], item[5], 1)
    out[#out + 1] = 1
    accepted = accepted + 1
  else
    redis.call('HINCRBY', KEYS[5], item[6], 1)
    out[#out + 1] = 0
  end
end
local counts = plan.counts
for i = 1, #counts do
  redis.call('HINCRBY', KEYS[5], counts[i][1], counts[i][2])
end
local wake = 0
if accepted > 0 then
  for bucket in pairs(written) do
    redis.call('EXPIRE', bucket, plan.seen)
  end
  -- The mark is set by SET NX: read first, as it is there for all but the first request of a drain's wait.
  if redis.call('EXISTS', KEYS[3]) == 0 and redis.call('SET', KEYS[3], '1', 'NX', 'EX', plan.wake) then
    wake = 1
  end
end
out[#out + 1] = wake
return out
