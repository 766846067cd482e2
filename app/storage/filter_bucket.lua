-- One bucket's answer to a contact filter, computed inside Redis (app/storage/queries.py builds the plan).
--
-- Nothing is copied: the script reads the indexes in place, so its work is the size of the smallest set it
-- must go through, never a Python loop over the registry.
--
-- KEYS: the registry, the order key (the sort profile's score index, else the registry), then one key per
-- condition (a company's roster: roster.lua, after ordered_index.lua, the libraries before this script with
-- contact_ids.lua, reads its
-- plain set and its index as one). The registry is the old sorted set, or with `registry` in the plan the base of its compact ordered
-- index (ordered_index.lua, the library, is before this script; storage/registry.py has moved into it what lay
-- beside it first), a contact's place there its contact hash's creation time (`c`, `created_at`). ARGV[1]: the plan, JSON:
--   conds   {key = i, set = true|false (a set, else a sorted set), neg = true|false,
--            ranges = {{min =, max =, lo =, lox =, hi =, hix =}, ...} (min/max as ZRANGE ... BYSCORE takes them) (absent: the whole key; lo/hi absent: infinite;
--            lox/hix: excluded), walk = true (its ranges are a range of the order key, highest first)}
--           a grade: key2 (the engagement profile's index beside the fit profile's `key`), letters and
--           numbers (each level's ranges, 0 best .. 2 worst), cells ({["letter:number"] = true}, levels)
--           a company: roster = true (`key` is the company's roster, contact -> contact bucket + 1: the bucket's
--           members are the score `place`, and those at 0, a release before's, whose id is of the bucket), company,
--           implies (whether an email can imply it: storage/contacts.py implies_company)
--           a company score: any = {key, ...} (the rosters of each company whose score is in the range; a contact
--           is in at most one), read as their union, names = {company, ...} (the companies of those keys),
--           implies = {true|false, ...} (as above, for each)
--           latest activity: index (the bucket's compact ordered index, beside `key`, the sorted set of releases
--           before; a contact is in one of them), its ranges of integer times; a contact's own time is its hash's
--           `la` field (app/storage/activity.py), read by the hash's name made from plan.contact; the index holds
--           each contact at its time's granule (`granule`, ms), so only the granules a range cuts are checked
--   n       rows wanted (0: only the count)
--   count   (a page past a cursor) the bucket's count, as a call with n 0 just returned it: not counted again
--   sorted  whether the order key is a sort profile's index (its absentees come last, by member)
--   force   (tests) "walk" or "collect": the page's way regardless of cost; "check": count member by member
--   place, buckets  this bucket's roster score (its number + 1) and how many buckets there are
--   registry  (the compact registry) the text before and after an id in its contact hash's key
--   contact   the text before and after an id in its contact hash's key (where a big company's roster asks, and
--             a contact's latest activity: not declared, so one Redis only, as every call of this script)
--   companies the migrations hash and the name of companies_once's first record (where a big company's roster asks
--             a contact hash without a `company` field: not declared either)
--   granule   (with an activity condition) the activity index's granule (ms)
--   scores    {[a score index's key] = {its stale set, its base, its fold states' field}}: every score index key
--             of the plan (its hot set) with the keys read with it (score_reads.lua, the library before this script;
--             not declared: one Redis); a member's score there is checked against its fold state's (its hash's
--             field, or while `before` is given the hash of releases before's: the text before and after an id)
--   derive    (with an activity condition) the migrations hash and activity-none-explicit's name: once recorded,
--             a contact hash without `la` holds the time its fold states derive (latest_activity.lua: la_read)
-- A contact matches when it is in every condition's key (its score within a range) that is not `neg`, and
-- in none that is. Returns {count, rows}: rows = flat {member, 1|0 (in the order key), score or 0}, the
-- bucket's first n matches in page order.
local plan = cjson.decode(ARGV[1])
local registry, order = KEYS[1], KEYS[2]
local conds = plan.conds
local CHUNK = 256
local compact = plan.registry  -- KEYS[1] is the registry's compact index
local bases = plan.scores or {}  -- a score index's hot set -> {stale, base, field}

-- a score index's reads (hot, stale and base as one); any other sorted set's as Redis answers them
local function zcount(key, min, max)
  local b = bases[key]
  if b then return sr_count(key, b[1], b[2], min, max) end
  return redis.call('ZCOUNT', key, min, max)
end

local function zrange_members(key, min, max, out)
  local b = bases[key]
  if b then return sr_members(key, b[1], b[2], min, max, out) end
  for _, m in ipairs(redis.call('ZRANGE', key, min, max, 'BYSCORE')) do out[#out + 1] = m end
  return out
end

local function state_score(member, field)
  local text = redis.call('HGET', plan.contact[1] .. member .. plan.contact[2], field)
  if not text and plan.before then text = redis.call('HGET', plan.before[1] .. member .. plan.before[2], field) end
  return sr_state_score(text)
end

-- the registry's reads where it is a compact index: how many, every member, a chunk newest first, a member's score
local function zcard(key)
  if compact and key == registry then return oi_count(key, -math.huge, math.huge) end
  if bases[key] then return zcount(key, '-inf', '+inf') end
  return redis.call('ZCARD', key)
end

local function zmembers(key)
  if bases[key] then return zrange_members(key, '-inf', '+inf', {}) end
  if not (compact and key == registry) then return redis.call('ZRANGE', key, 0, -1) end
  local flat, out = oi_range(key, -math.huge, math.huge, 0, -1), {}
  for i = 1, #flat, 2 do out[#out + 1] = flat[i] end
  return out
end

local function newest_chunk(key, high, low, offset)
  if compact and key == registry then return oi_rev_range(key, math.huge, -math.huge, offset, CHUNK) end
  local b = bases[key]
  if b then return sr_rev_range(key, b[1], b[2], high, low, offset, CHUNK) end
  return redis.call('ZRANGE', key, high, low, 'BYSCORE', 'REV', 'LIMIT', offset, CHUNK, 'WITHSCORES')
end

local function zscore(key, member)
  local b = bases[key]
  if b then return sr_score(key, b[1], b[2], member, state_score(member, b[3])) end
  if not (compact and key == registry) then return redis.call('ZSCORE', key, member) end
  -- its creation time: the earlier of `c` and `created_at` not corrupt (created.lua; storage/registry.py: created_of)
  local got = redis.call('HMGET', compact[1] .. member .. compact[2], 'c', 'created_at')
  local s = cr_created(got[1], got[2])
  if not s then return false end
  local e, leaf = oi_find(key, oi_key(s, member))  -- registered: the index holds it at that score
  if not e or tonumber(redis.call('ZSCORE', key .. ':l:' .. leaf, member)) ~= s then return false end
  return string.format('%d', s)  -- (the field's text)
end

local function in_ranges(score, ranges)
  for _, r in ipairs(ranges) do
    local ok = true
    if r.lo ~= nil then ok = (r.lox and score > r.lo) or (not r.lox and score >= r.lo) end
    if ok and r.hi ~= nil then ok = (r.hix and score < r.hi) or (not r.hix and score <= r.hi) end
    if ok then return true end
  end
  return false
end

-- a company's contacts of this bucket: its roster's score `place` (in its plain set and its index, roster.lua, the
-- library before this script), and the ids at 0 that are of this bucket
local function roster_members(key)
  return r_bucket(key, plan.place, plan.buckets)
end

local function roster_size(key)
  return r_bucket_count(key, plan.place, plan.buckets)
end

-- whether a company's roster holds a member of this bucket. A small roster (no index) is asked (one ZSCORE); a big
-- one's index would cost a directory look-up and a ZSCORE (~5 us of Redis where a ZSCORE is well under one), so the
-- member's contact document, the truth the roster is kept from (storage/companies.py), is asked which company it is
-- in (one HGET; as the walk a cluster takes decides)
local rosters_seen = {}
local compact_companies = nil
-- whether a contact's document says it is in `company` (storage/contacts.py: read_company): its `company` field
-- ('': in none), else the company its email implies once companies_once's first pass is recorded
-- (plan.companies: the migrations hash and the record's name) — `implies` (the company is one an email can
-- imply: implies_company), the email's text after its last '@' is the company, and the contact is the one its
-- email derives (contact_id_for, either form: contact_ids.lua, a library before this script). Its email is in `e`
-- or in `email` (releases before), where both the one that derives it (storage/contacts.py: email_of): either
-- field's, then, if it derives the contact.
local function derives(email, member, company)
  if not email or string.match(email, '^.*@(.*)$') ~= company then return false end
  return ci_derives(member, 'email', email)
end

local function document_in(member, company, implies)
  local got = redis.call('HMGET', plan.contact[1] .. member .. plan.contact[2], 'company', 'e', 'email')
  if got[1] then return got[1] ~= '' and got[1] == company end
  if not implies or not (derives(got[2], member, company) or derives(got[3], member, company)) then return false end
  if compact_companies == nil then
    compact_companies = redis.call('HEXISTS', plan.companies[1], plan.companies[2]) == 1
  end
  return compact_companies
end

local function in_roster(key, member, company, implies)
  local indexed = rosters_seen[key]
  if indexed == nil then
    indexed = r_indexed(key)
    rosters_seen[key] = indexed
  end
  if not indexed then return redis.call('ZSCORE', key, member) ~= false end
  return document_in(member, company, implies)
end

-- an activity condition's range as the ordered index's integer bounds (its times are integers)
local function int_bounds(r)
  local lo, hi = -math.huge, math.huge
  if r.lo ~= nil then lo = r.lox and math.floor(r.lo) + 1 or math.ceil(r.lo) end
  if r.hi ~= nil then hi = r.hix and math.ceil(r.hi) - 1 or math.floor(r.hi) end
  return lo, hi
end

-- a contact's latest activity: its hash's field, or its entry in the sorted set of releases before (the later)
local function activity_of(cond, member)
  local t = la_read(plan.contact[1] .. member .. plan.contact[2], plan.derive)
  local o = tonumber(redis.call('ZSCORE', KEYS[cond.key], member))  -- (nil when none: Redis's nil is false)
  if t and o then return math.max(t, o) end
  return t or o
end

-- [lo, hi] (integers or infinite) over the index, whose scores are granules (a contact's time less the remainder by
-- plan.granule): the scores of the granules wholly inside it, and the at most two granules it cuts, whose entries
-- are checked against their contacts' `la` one by one (app/storage/activity.py: ActivityIndex.split)
local function activity_split(lo, hi)
  local g = plan.granule
  local inner_lo, inner_hi, cut = lo, hi, {}
  if lo ~= -math.huge and lo % g ~= 0 then
    cut[#cut + 1] = lo - lo % g
    inner_lo = lo - lo % g + g
  end
  if hi ~= math.huge and (hi + 1) % g ~= 0 then
    if cut[1] ~= hi - hi % g then cut[#cut + 1] = hi - hi % g end
    inner_hi = hi - hi % g - 1
  end
  return inner_lo, inner_hi, cut
end

-- fn(member) for each contact of the bucket's index with a time in [lo, hi]; returns how many
local function activity_entries(base, lo, hi, fn)
  if lo > hi then return 0 end
  local inner_lo, inner_hi, cut = activity_split(lo, hi)
  local n = 0
  if inner_lo <= inner_hi then
    if fn then
      local got = oi_range(base, inner_lo, inner_hi, 0, -1)
      for i = 1, #got, 2 do fn(got[i]) end
      n = #got / 2
    else
      n = oi_count(base, inner_lo, inner_hi)
    end
  end
  for _, s in ipairs(cut) do
    local got = oi_range(base, s, s, 0, -1)
    for i = 1, #got, 2 do
      local t = la_read(plan.contact[1] .. got[i] .. plan.contact[2], plan.derive)
      if t and t >= lo and t <= hi then
        n = n + 1
        if fn then fn(got[i]) end
      end
    end
  end
  return n
end

local function level_of(score, levels)
  for i = 1, 3 do
    if in_ranges(score, levels[i]) then return i - 1 end
  end
  return 2
end

local function holds(cond, member)
  local key = KEYS[cond.key]
  local inside
  if cond.cells then  -- a grade: the cell of the two scores is one of the wanted ones
    local fit, engagement = zscore(key, member), zscore(KEYS[cond.key2], member)
    inside = (fit and engagement and cond.cells[level_of(tonumber(fit), cond.letters) .. ':' ..
                                                 level_of(tonumber(engagement), cond.numbers)]) and true or false
  elseif cond.any then  -- (every member looked at is of this bucket: in a roster is in its bucket's share)
    inside = false
    for i, k in ipairs(cond.any) do
      if in_roster(KEYS[k], member, cond.names[i], cond.implies[i]) then inside = true; break end
    end
  elseif cond.roster then
    inside = in_roster(key, member, cond.company, cond.implies)
  elseif cond.index then
    local t = activity_of(cond, member)
    inside = t ~= nil and in_ranges(t, cond.ranges)
  elseif cond.set then
    inside = redis.call('SISMEMBER', key, member) == 1
  else
    local score = zscore(key, member)
    inside = score and (cond.ranges == nil or in_ranges(tonumber(score), cond.ranges)) or false
  end
  return inside ~= cond.neg
end

local function matches(member, skip)
  for i, cond in ipairs(conds) do
    if i ~= skip and not holds(cond, member) then return false end
  end
  return true
end

local function size(cond)
  local key = KEYS[cond.key]
  if cond.cells then return math.huge end  -- a grade is only checked (its two indexes are conditions too)
  if cond.any then
    local n = 0
    for _, k in ipairs(cond.any) do n = n + roster_size(KEYS[k]) end
    return n
  end
  if cond.roster then return roster_size(key) end
  if cond.index then
    local n = 0
    for _, r in ipairs(cond.ranges) do
      local lo, hi = int_bounds(r)
      n = n + redis.call('ZCOUNT', key, r.min, r.max) + activity_entries(KEYS[cond.index], lo, hi)
    end
    return n
  end
  if cond.set then return redis.call('SCARD', key) end
  if cond.ranges == nil then return zcard(key) end
  local n = 0
  for _, r in ipairs(cond.ranges) do n = n + zcount(key, r.min, r.max) end
  return n
end

local function members(cond)
  local key = KEYS[cond.key]
  if cond.any then
    local out = {}
    for _, k in ipairs(cond.any) do
      for _, m in ipairs(roster_members(KEYS[k])) do out[#out + 1] = m end
    end
    return out
  end
  if cond.roster then return roster_members(key) end
  if cond.index then
    local out = {}
    for _, r in ipairs(cond.ranges) do
      for _, m in ipairs(redis.call('ZRANGE', key, r.min, r.max, 'BYSCORE')) do out[#out + 1] = m end
      local lo, hi = int_bounds(r)
      activity_entries(KEYS[cond.index], lo, hi, function(m) out[#out + 1] = m end)
    end
    return out
  end
  if cond.set then return redis.call('SMEMBERS', key) end
  if cond.ranges == nil then return zmembers(key) end
  local out = {}
  for _, r in ipairs(cond.ranges) do zrange_members(key, r.min, r.max, out) end
  return out
end

-- the smallest set every match is in (the registry when no condition is one)
local sizes, smallest, driver = {}, nil, 0
for i, cond in ipairs(conds) do
  sizes[i] = size(cond)
  if not cond.neg and not cond.cells and (smallest == nil or sizes[i] < smallest) then smallest, driver = sizes[i], i end
end
if driver == 0 then
  conds[#conds + 1] = {key = 1, set = false, neg = false}
  driver = #conds
  sizes[driver] = zcard(registry)
  smallest = sizes[driver]
end

-- the count: the driver alone; or the driver less what the small negated sets take from it; or the
-- driver's members checked one by one — whichever goes through fewer members
local count
if plan.count ~= nil then
  count = plan.count
elseif #conds == 1 then
  count = smallest
else
  local negated, only_negated = 0, true
  for i, cond in ipairs(conds) do
    if i ~= driver then
      if cond.neg and cond.ranges == nil then negated = negated + sizes[i] else only_negated = false end
    end
  end
  if only_negated and negated < smallest and plan.force ~= 'check' then
    local taken = 0
    local seen = {}
    for i, cond in ipairs(conds) do
      if i ~= driver then
        for _, m in ipairs(members(cond)) do
          if not seen[m] then
            seen[m] = true
            if holds(conds[driver], m) then taken = taken + 1 end
          end
        end
      end
    end
    count = smallest - taken
  else
    count = 0
    for _, m in ipairs(members(conds[driver])) do
      if matches(m, driver) then count = count + 1 end
    end
  end
end

local rows = {}
if plan.n == 0 or count == 0 then return {count, rows} end

-- the page: walk the order key from the top until n matches (when matches are dense), else collect the
-- driver's matches and sort them
local walk_ranges = {{'+inf', '-inf'}}
local walk_size = zcard(order)
for _, cond in ipairs(conds) do
  if cond.walk then
    walk_ranges = {}
    for _, r in ipairs(cond.ranges) do walk_ranges[#walk_ranges + 1] = {r.max, r.min} end
    walk_size = size(cond)
  end
end
local found = 0
local walk = plan.n * walk_size < count * smallest  -- expected members walked < the driver's size
if plan.force == 'walk' or plan.force == 'collect' then walk = plan.force == 'walk' end
if walk then
  for _, r in ipairs(walk_ranges) do
    local offset = 0
    -- a score index walked keeping its place in hot and base (a deep walk does not merge from the top again)
    local b = bases[order]
    local walker = b and sr_walker(order, b[1], b[2], r[1], r[2])
    while found < plan.n do
      local chunk = walker and walker(CHUNK) or newest_chunk(order, r[1], r[2], offset)
      if #chunk == 0 then break end
      for j = 1, #chunk, 2 do
        if found < plan.n and matches(chunk[j], 0) then
          rows[#rows + 1] = chunk[j]; rows[#rows + 1] = 1; rows[#rows + 1] = chunk[j + 1]
          found = found + 1
        end
      end
      offset = offset + CHUNK
    end
    if found >= plan.n then break end
  end
  if found >= plan.n or not plan.sorted then return {count, rows} end
  -- the matches without a score in the sort profile come after every scored one, by member descending
  local rest = {}
  for _, m in ipairs(members(conds[driver])) do
    if matches(m, driver) and not zscore(order, m) then rest[#rest + 1] = m end
  end
  table.sort(rest, function(a, b) return a > b end)
  for j = 1, math.min(#rest, plan.n - found) do
    rows[#rows + 1] = rest[j]; rows[#rows + 1] = 0; rows[#rows + 1] = 0
  end
  return {count, rows}
end
local hits = {}
for _, m in ipairs(members(conds[driver])) do
  if matches(m, driver) then
    local score = zscore(order, m)
    hits[#hits + 1] = {m, score and 1 or 0, score and tonumber(score) or 0, score or '0'}  -- the text: exact
  end
end
table.sort(hits, function(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  if a[3] ~= b[3] then return a[3] > b[3] end
  return a[1] > b[1]
end)
for j = 1, math.min(#hits, plan.n) do
  rows[#rows + 1] = hits[j][1]; rows[#rows + 1] = hits[j][2]; rows[#rows + 1] = hits[j][4]
end
return {count, rows}
