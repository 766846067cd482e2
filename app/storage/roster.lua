-- roster.lua: a company's roster, a library prepended (after ordered_index.lua) to the scripts that read or change
-- one (app/storage/companies.py: library_script(..., "roster.lua")). docs/performance.md, "Row 5a (2026-12-04 late)".
--
-- A roster is every contact of one company, each at its *contact* bucket + 1 (its `place`), so a contact bucket's
-- share is one score range; releases before this layout wrote some at 0 (the place is then worked out from the id).
-- It is held in two structures under the company bucket's hash tag, one name for both (`base`, the roster's key):
--   base      a plain sorted set: the whole roster while it is small (at most GROW contacts, Redis's default
--             zset-max-listpack-entries: a listpack, as compact as anything), and where writers that cannot run this
--             library (ingest's recorded writes) put a new contact;
--   base:d, base:n, base:l:ID, base:z   a compact ordered index (ordered_index.lua, leaves of at most MAX, its
--             sizes made with it: r_count reads them) once the company grew past GROW: ~30 B a contact where one big
--             sorted set takes ~130 B as skiplist nodes.
-- A read takes the two as one: a contact written beside an index it is already in (a request that lost the race to
-- make the contact, a tick between them) is counted and listed once. `r_tidy` moves the plain set into the index
-- when the index exists, or when the plain set grew past GROW, which is 0 while making an index is not allowed (the
-- layout's move is not recorded: storage/companies.py:ROSTER_INDEX_MIGRATION); the index holds every contact at its
-- place, never at 0.

-- the contact bucket of an id, as app/storage/redis_tools.py:Sharding.bucket_of (adler32 of its bytes)
local function r_bucket_of(member, buckets)
  local a, b = 1, 0
  for i = 1, #member do
    a = (a + string.byte(member, i)) % 65521
    b = (b + a) % 65521
  end
  return (b * 65536 + a) % buckets
end

local function r_indexed(base)
  return redis.call('EXISTS', base .. ':d') == 1
end

-- whether the index holds id at place
local function r_in_index(base, place, id)
  local e, leaf = oi_find(base, oi_key(place, id))
  return e ~= nil and tonumber(redis.call('ZSCORE', base .. ':l:' .. leaf, id)) == place
end

-- whether the roster holds id (whose place is `place`), in either structure
local function r_holds(base, place, id)
  if redis.call('ZSCORE', base, id) then return true end
  return r_in_index(base, place, id)  -- (no index: its directory's look-up finds nothing)
end

-- the plain set's entries moved into the index (made if need be), each at its place, the first `page` of them (nil:
-- all); how many moved. ZRANGE gives them in the index's order (score, then member bytes), so they go in as read;
-- only the entries at 0 (a release before's), placed anew, are sorted (sorting all in Lua cost ~60 us an entry: a
-- 200,000-contact roster's move held Redis 17 s)
local function r_absorb(base, max, buckets, page)
  local held = redis.call('ZRANGE', base, 0, (page or 0) - 1, 'WITHSCORES')
  if #held == 0 then return 0 end
  local placed, zeros = {}, {}
  for i = 1, #held, 2 do
    if tonumber(held[i + 1]) == 0 then
      zeros[#zeros + 1] = {r_bucket_of(held[i], buckets) + 1, held[i]}
    else
      placed[#placed + 1] = held[i]; placed[#placed + 1] = held[i + 1]
    end
  end
  -- (one the index holds already is added again at its place: a no-op)
  if not r_indexed(base) then oi_size_all(base) end  -- a new index is counted from its sizes (r_count)
  if #placed > 0 then oi_add_sorted(base, placed, max) end
  if #zeros > 0 then oi_add_pairs(base, zeros, max) end
  if page and #held / 2 == page then
    redis.call('ZREMRANGEBYRANK', base, 0, page - 1)  -- (what was read: the call is atomic)
  else
    redis.call('DEL', base)
  end
  return #held / 2
end

-- what the roster's plain set should give to its index: all of it (or its first `page`: nil, all) when there is an
-- index, or when it grew past grow (0: no index may be made); how many moved
local function r_tidy(base, max, buckets, grow, page)
  local n = redis.call('ZCARD', base)
  if n == 0 then return 0 end
  if r_indexed(base) or (grow > 0 and n > grow) then return r_absorb(base, max, buckets, page) end
  return 0
end

-- how many contacts the roster holds
local function r_count(base, buckets)
  local plain = redis.call('ZCARD', base)
  if not r_indexed(base) then return plain end
  local n = oi_count(base, -math.huge, math.huge)
  if plain == 0 then return n end
  for _, id in ipairs(redis.call('ZRANGE', base, 0, -1)) do  -- (the plain set is short beside an index)
    if not r_in_index(base, r_bucket_of(id, buckets) + 1, id) then n = n + 1 end
  end
  return n
end

-- the roster's contacts of one contact bucket (place = bucket + 1), each once
local function r_bucket(base, place, buckets)
  local out, seen = {}, {}
  local function take(id)
    if not seen[id] then seen[id] = true; out[#out + 1] = id end
  end
  for _, id in ipairs(redis.call('ZRANGE', base, place, place, 'BYSCORE')) do take(id) end
  for _, id in ipairs(redis.call('ZRANGE', base, 0, 0, 'BYSCORE')) do
    if r_bucket_of(id, buckets) == place - 1 then take(id) end
  end
  if r_indexed(base) then
    local flat = oi_range(base, place, place, 0, -1)
    for i = 1, #flat, 2 do take(flat[i]) end
  end
  return out
end

-- a contact leaves: out of both; an emptied roster leaves no keys. True when the roster is now empty.
local function r_remove(base, place, id)
  redis.call('ZREM', base, id)
  if not r_indexed(base) then return redis.call('EXISTS', base) == 0 end
  oi_remove(base, place, id)
  if redis.call('EXISTS', base) == 0 and oi_count(base, -math.huge, math.huge) == 0 then
    local first = redis.call('ZRANGE', base .. ':d', 0, -1)
    for _, e in ipairs(first) do redis.call('DEL', base .. ':l:' .. string.match(e, '%z(%d+)$')) end
    redis.call('DEL', base .. ':d', base .. ':n', base .. ':z')
    OI_SIZED[base] = nil
    return true
  end
  return false
end

-- a contact joins: into the index when there is one (with whatever a writer of ingest or of a release before left in
-- the plain set), else the plain set, which becomes an index once past grow (0: never)
local function r_add(base, place, id, max, buckets, grow)
  redis.call('ZADD', base, place, id)
  r_tidy(base, max, buckets, grow)
end

-- how many contacts of the contact bucket place - 1 the roster holds
local function r_bucket_count(base, place, buckets)
  local n, zeros = redis.call('ZCOUNT', base, place, place), redis.call('ZCOUNT', base, 0, 0)
  local indexed = r_indexed(base)
  if zeros == 0 and not indexed then return n end
  if n == 0 and zeros == 0 then return oi_count(base, place, place) end
  return #r_bucket(base, place, buckets)
end
