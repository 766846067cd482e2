-- Delete email identity keys that say nothing the contacts do not (app/contact_layout.py:identity_once): a key
-- naming the contact its email derives, while that contact exists (ContactStore._named finds it by its existence).
-- Atomic per key: a key changed meanwhile, or one whose contact is missing, stays.
--
-- KEYS: per key two: the email identity key, the hash of the contact its email derives.
-- ARGV[i]: that contact's id.
-- Returns how many keys were deleted.
local dropped = 0
for i = 1, #ARGV do
  if redis.call('GET', KEYS[2 * i - 1]) == ARGV[i] and redis.call('EXISTS', KEYS[2 * i]) == 1 then
    redis.call('DEL', KEYS[2 * i - 1])
    dropped = dropped + 1
  end
end
return dropped
