-- activity_derived_once's two passes over contact hashes (app/contact_layout.py; the library latest_activity.lua is
-- before this script), atomic per contact: a hash read whole and written in the same step, so a drain's write of
-- the contact comes wholly before or after.
-- KEYS: the contact hashes (many on one Redis, one on a cluster). ARGV[1]: 'none' (the first pass: a hash without
-- `la` whose fold states would derive a time gets `la` empty, "no activity") or 'drop' (the second: an `la` that
-- the states derive goes, and an empty one where they derive none).
-- Returns how many hashes were written.
local drop = ARGV[1] == 'drop'
local n = 0
for _, hash in ipairs(KEYS) do
  local flat = redis.call('HGETALL', hash)
  local la
  for j = 1, #flat, 2 do
    if flat[j] == 'la' then la = flat[j + 1]; break end
  end
  local derived = la_derive(flat)
  if drop then
    if la and la_time(la) == derived then
      redis.call('HDEL', hash, 'la')
      n = n + 1
    end
  elseif not la and derived then
    redis.call('HSET', hash, 'la', '')
    n = n + 1
  end
end
return n
