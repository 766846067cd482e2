-- Link new identities to contacts, each unless another request named its contact first, together with what
-- linking it writes (the multi-step path of ingest on one Redis: ContactStore.claim_identities). An identity names a
-- contact by its key; an email with no key names the contact it derives (contact_id_for) when that exists.
-- Atomic: the key and the derived contact are looked at and written in one step, so two requests at once — one
-- creating the email's own contact, one linking the email to a contact known by its external id — cannot both win;
-- and the link's writes (the contact's document and creation time, the registry, the search term, the company) go
-- with it, so a process that dies after this call leaves no identity naming a contact that is written nowhere
-- else (its retry finds the identity linked and writes nothing more).
--
-- KEYS: per identity two: its identity key, and for an email the hash of the contact it derives (for an external
-- id, the identity key again; never read); then the keys the link writes name.
-- ARGV[1]: '1' when a new email linked to the contact it derives gets no key (ContactStore.email_key_implied: the
-- contact's hash is created by its link writes instead), else '0'; ARGV[2]: JSON, per identity the writes that link
-- it to the contact wanted ([command, key index, arguments as text...], one key each: HSETNX, ZADD, SADD, SET);
-- then per identity three: the contact wanted, the contact the email derives ('' for an external id), the email or
-- external id.
-- Returns per identity the contact it names now (the one wanted unless another request linked it first).
local implied = ARGV[1] == '1'
local writes = cjson.decode(ARGV[2])
local out = {}
for i = 1, #writes do
  local key, derived_key = KEYS[2 * i - 1], KEYS[2 * i]
  local wanted, derived, value = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  local found = redis.call('GET', key)
  if not found and derived ~= '' and redis.call('EXISTS', derived_key) == 1 then
    found = derived
  end
  if not found then
    if not (implied and wanted == derived) then  -- (else the link's writes create the derived contact's hash)
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
