-- created.lua: a contact's creation time as every reader takes it, a library prepended to the scripts that read it
-- (registry_ops.lua, filter_bucket.lua, shorten_created.lua); storage/registry.py's created_of and created_ms are
-- the same rule in Python (CREATED_BOUND). A field is the text of a whole number of ms in the registry index's range
-- ([-2^52, 2^52]) exactly as a link writes it (what string.format('%d') gives back); any other text is corrupt,
-- read as no creation time. Reads only what it is given: nothing to make atomic.
local CR_BOUND = 4503599627370496  -- 2^52

-- one field's ms (a number), nil when absent (false, as HMGET gives it) or corrupt
local function cr_ms(text)
  if type(text) ~= 'string' then return nil end
  local n = tonumber(text)
  if n == nil or n ~= math.floor(n) or n < -CR_BOUND or n > CR_BOUND then return nil end
  if string.format('%d', n) ~= text then return nil end
  return n
end

-- a contact's creation time from its short field `c` and the long `created_at` of releases before: the earlier of
-- those that are not corrupt (each is written with HSETNX: the earlier is its first link's), nil without one
local function cr_created(short, long)
  local s, l = cr_ms(short), cr_ms(long)
  if s == nil or (l ~= nil and l < s) then return l end
  return s
end
