-- A company roster's reads and tidying (app/storage/companies.py), after ordered_index.lua and roster.lua, the
-- libraries, which say what a roster's keys hold. Atomic per call: every key shares the company bucket's hash tag.
--
-- KEYS[1]: the roster (its plain sorted set's name, the base of its index); for `tidy-joined`, the company bucket's
-- set of companies joined by a plain write (keys.roster_joins). ARGV: OP, MAX (a leaf's entries at most), BUCKETS
-- (contact buckets), then OP's:
--   count                 how many contacts the roster holds
--   page WANT             per roster score (0: a release before's, 1..BUCKETS: a contact bucket + 1) its first WANT
--                         ids of each structure, in one flat list (the caller merges: a page by id is within them)
--   bucket PLACE          the contacts of the contact bucket PLACE - 1, each once
--   holds PLACE ID        1 if the roster holds ID (whose place is PLACE), else 0
--   tidy GROW [PAGE]      the plain set moved into the index if there is one, or if it grew past GROW (0: never):
--                         its first PAGE contacts (none given: all); reply: how many moved (PAGE: maybe more left)
--   tidy-joined GROW PREFIX SUFFIX   `tidy GROW` of the roster PREFIX .. company .. SUFFIX of each company in
--                         KEYS[1], which is emptied; reply: how many contacts moved
local base, op = KEYS[1], ARGV[1]
local max, buckets = tonumber(ARGV[2]), tonumber(ARGV[3])
if op == 'count' then return r_count(base, buckets) end
if op == 'page' then
  local want, out = tonumber(ARGV[4]), {}
  local indexed = r_indexed(base)
  for s = 0, buckets do
    for _, id in ipairs(redis.call('ZRANGE', base, s, s, 'BYSCORE', 'LIMIT', 0, want)) do out[#out + 1] = id end
    if indexed and s > 0 then
      local flat = oi_range(base, s, s, 0, want)
      for i = 1, #flat, 2 do out[#out + 1] = flat[i] end
    end
  end
  return out
end
if op == 'bucket' then return r_bucket(base, tonumber(ARGV[4]), buckets) end
if op == 'holds' then return r_holds(base, tonumber(ARGV[4]), ARGV[5]) and 1 or 0 end
if op == 'tidy' then return r_tidy(base, max, buckets, tonumber(ARGV[4]), tonumber(ARGV[5])) end
if op == 'tidy-joined' then
  local companies = redis.call('SMEMBERS', base)
  redis.call('DEL', base)
  local moved = 0
  for _, company in ipairs(companies) do
    moved = moved + r_tidy(ARGV[5] .. company .. ARGV[6], max, buckets, tonumber(ARGV[4]))
  end
  return moved
end
error('roster: unknown operation ' .. tostring(op))
