-- Delete email identity keys that say nothing the contacts do not (app/contact_layout.py:identity_once): a key
-- naming the contact its email derives, while that contact exists (ContactStore._named finds it by its existence).
-- Atomic per key: a key changed meanwhile, or one whose contact is missing, stays.
--
-- KEYS: per key three: the email identity key, the hashes of the contacts its email derives (contact_id_for:
-- the short id, the long one).
-- ARGV: per key two: those contacts' ids.
-- Returns how many keys were deleted.
local dropped = 0
for i = 1, #ARGV / 2 do
  local named = redis.call('GET', KEYS[3 * i - 2])
  local short, long = ARGV[2 * i - 1], ARGV[2 * i]
  if (named == short and redis.call('EXISTS', KEYS[3 * i - 1]) == 1)
      or (named == long and redis.call('EXISTS', KEYS[3 * i]) == 1) then
    redis.call('DEL', KEYS[3 * i - 2])
    dropped = dropped + 1
  end
end
return dropped
