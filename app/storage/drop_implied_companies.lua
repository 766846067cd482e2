-- Delete the `company` fields that say only what the contact's email implies (app/contact_layout.py:companies_once,
-- its second pass; storage/contacts.py: implied_company, decided by the caller from what it read). Atomic per
-- contact: a field, or an email, changed since the caller read them stays as it is.
--
-- KEYS: the contacts' hashes. ARGV: per contact two: the email the caller read (email_of: one that derives the
-- contact, in its short field `e` or the long `email` of releases before), the company it implies.
-- Returns how many fields were deleted.
local dropped = 0
for i = 1, #KEYS do
  local got = redis.call('HMGET', KEYS[i], 'e', 'email', 'company')
  if (got[1] == ARGV[2 * i - 1] or got[2] == ARGV[2 * i - 1]) and got[3] == ARGV[2 * i] then
    redis.call('HDEL', KEYS[i], 'company')
    dropped = dropped + 1
  end
end
return dropped
