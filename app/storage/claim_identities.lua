-- Link new identities to contacts, each unless another request named its contact first, together with what
-- linking it writes (the multi-step path of ingest on one Redis: ContactStore.claim_identities). An identity names a
-- contact by its key; an email with no key names the contact it derives (contact_id_for: its short id or, made by a
-- release before the short ids, its long one; never both) when that exists.
-- Atomic: the key and the derived contact are looked at and written in one step, so two requests at once — one
-- creating the email's own contact, one linking the email to a contact known by its external id — cannot both win;
-- and the link's writes (the contact's document and creation time, the registry, the search term, the company) go
-- with it, so a process that dies after this call leaves no identity naming a contact that is written nowhere
-- else (its retry finds the identity linked and writes nothing more).
--
-- KEYS: per identity three: its identity key, and for an email the hashes of the contacts it derives, short id then
-- long (for an external id, the identity key again twice; never read); then the keys the link writes name.
-- ARGV[1]: '1' when a new email linked to the contact it derives gets no key (ContactStore.email_key_implied: the
-- contact's hash is created by its link writes instead), else '0'; ARGV[2]: JSON, per identity the writes that link
-- it to the contact wanted ([command, key index, arguments as text...], one key each: HSETNX, ZADD, SADD, SET);
-- then per identity four: the contact wanted, the contacts the email derives, short then long ('' for an external
-- id), the email or external id.
-- Returns per identity the contact it names now (the one wanted unless another request linked it first).
local implied = ARGV[1] == '1'
local writes = cjson.decode(ARGV[2])
local out = {}
for i = 1, #writes do
  local key, short_key, long_key = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local wanted, short, long, value = ARGV[4 * i - 1], ARGV[4 * i], ARGV[4 * i + 1], ARGV[4 * i + 2]
  local found = redis.call('GET', key)
  if not found and short ~= '' then
    if redis.call('EXISTS', short_key) == 1 then
      found = short
    elseif redis.call('EXISTS', long_key) == 1 then
      found = long
    end
  end
  if not found then
    if not (implied and (wanted == short or wanted == long)) then  -- (else the link's writes create its hash)
      redis.call('SET', key, wanted)
    end
    for _, write in ipairs(writes[i]) do
      redis.call(write[1], KEYS[write[2]], unpack(write, 3))
    end
    found = wanted
  end
  out[i] = found
end
return out
