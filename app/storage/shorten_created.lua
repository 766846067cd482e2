-- Rename each contact hash's creation time from `created_at` (releases before) to `c` (app/contact_layout.py:
-- created_once; storage/registry.py: CREATED, created_of). Atomic per contact: where both fields are there (a
-- contact linked again by a process of each form) `c` keeps the earlier, the one the contact's first link wrote, as
-- every reader takes it. The long field goes before the short one is set, so the hash never holds one field more
-- than it did (a listpack at its bound stays one).
--
-- KEYS: the contacts' hashes. Returns how many fields were renamed.
local renamed = 0
for i = 1, #KEYS do
  local got = redis.call('HMGET', KEYS[i], 'c', 'created_at')
  if got[2] then
    local at = got[2]
    local short = cr_ms(got[1])
    if short ~= nil and (cr_ms(at) == nil or short < cr_ms(at)) then at = got[1] end  -- (created.lua, before this)
    redis.call('HDEL', KEYS[i], 'created_at')
    redis.call('HSET', KEYS[i], 'c', at)
    renamed = renamed + 1
  end
end
return renamed
