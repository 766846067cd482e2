-- Rename each contact hash's email from `email` (releases before) to `e` (app/contact_layout.py: email_once;
-- storage/contacts.py: EMAIL, email_of). The caller read both fields and decided which email `e` keeps where both
-- are there (email_of's rule, which needs the contact id's derivation); atomic per contact: a hash whose fields
-- are no longer the ones read (a second email linked meanwhile) is left as it is, read the same way by every
-- reader. The long field goes before the short one is set, so the hash never holds one field more than it did (a
-- listpack at its bound stays one).
--
-- KEYS: the contacts' hashes. ARGV: per contact three: its `e` as read ('' for none), its `email` as read, the
-- email `e` keeps. Returns how many fields were renamed.
local renamed = 0
for i = 1, #KEYS do
  local got = redis.call('HMGET', KEYS[i], 'e', 'email')
  if (got[1] or '') == ARGV[3 * i - 2] and got[2] == ARGV[3 * i - 1] then
    redis.call('HDEL', KEYS[i], 'email')
    redis.call('HSET', KEYS[i], 'e', ARGV[3 * i])
    renamed = renamed + 1
  end
end
return renamed
