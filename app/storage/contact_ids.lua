-- The ids an identity derives (storage/contacts.py: contact_id_for), a library prepended to the scripts that check
-- a contact is the one its email makes (filter_bucket.lua). Pure: reads and writes nothing.
--
-- ci_derives(id, kind, value): whether `id` is the contact `kind:value` makes, in either form — the long one, "c"
-- and the first 20 hex digits of its SHA-1 (releases before the short ids), or the short one, "c" and the first 9
-- bytes of the SHA-1 as base64url (12 characters); the id's length says which to compute.
local CI_BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

-- "c" and the base64url of the first 9 bytes (18 hex digits) of a SHA-1 in hex: three groups of 24 bits, four
-- characters each
local function ci_short(hex)
  local out = {'c'}
  for g = 0, 2 do
    local bits = tonumber(string.sub(hex, 6 * g + 1, 6 * g + 6), 16)
    for shift = 18, 0, -6 do
      local d = math.floor(bits / 2 ^ shift) % 64
      out[#out + 1] = string.sub(CI_BASE64URL, d + 1, d + 1)
    end
  end
  return table.concat(out)
end

local function ci_derives(id, kind, value)
  if #id == 21 then
    return 'c' .. string.sub(redis.sha1hex(kind .. ':' .. value), 1, 20) == id
  end
  return #id == 13 and ci_short(redis.sha1hex(kind .. ':' .. value)) == id
end
