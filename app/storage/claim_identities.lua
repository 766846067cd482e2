-- Link new identities to contacts, each unless another request named its contact first (the multi-step path of
-- ingest on one Redis: ContactStore._claim). An identity names a contact by its key; an email with no key names the
-- contact its email derives (contact_id_for) when that exists. Atomic: the key and the derived contact are looked
-- at and written in one step, so two requests at once — one creating the email's own contact, one linking the
-- email to a contact known by its external id — cannot both win.
--
-- KEYS: per identity two: its identity key, and for an email the hash of the contact it derives (for an external
-- id, the identity key again; never read).
-- ARGV[1]: '1' when a new email linked to the contact it derives gets no key (ContactStore.email_key_implied: the
-- contact's hash is created here, with the email, instead), else '0'; then per identity three: the contact wanted,
-- the contact the email derives ('' for an external id), the email or external id.
-- Returns per identity the contact it names now (the one wanted unless another request linked it first).
local implied = ARGV[1] == '1'
local out = {}
for i = 1, #KEYS / 2 do
  local key, derived_key = KEYS[2 * i - 1], KEYS[2 * i]
  local wanted, derived, value = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]
  local found = redis.call('GET', key)
  if not found and derived ~= '' and redis.call('EXISTS', derived_key) == 1 then
    found = derived
  end
  if not found then
    if implied and wanted == derived then
      redis.call('HSETNX', derived_key, 'email', value)
    else
      redis.call('SET', key, wanted)
    end
    found = wanted
  end
  out[i] = found
end
return out
