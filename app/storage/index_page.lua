-- A page of one bucketed index and its count, in one call (app/storage/queries.py: ContactQuery._ranged on a
-- single Redis; a cluster, whose buckets are in different slots, reads the same in two pipelined round
-- trips).
--
-- Read only. It replaces a ZCOUNT per bucket and range, then a ZRANGE per bucket whose 16 x (offset + limit)
-- entries Python parsed and merged, by the merge here: the reply is the page alone, and the buckets are read
-- a few entries at a time as the merge needs them (~offset + limit entries in all, not that many from each).
--
-- With the page, it may read the page's contacts (a smart-list page: app/contact_directory.py), as
-- read_contacts.lua does, so that a page is one round trip less. Their keys cannot be declared (their ids are
-- found here): made from the parts of the key names the caller sends, on a single Redis only, like every call of
-- this script.
--
-- KEYS: the index's buckets: sorted sets, or (a score index, stride 3) each bucket's hot set, stale set and base
-- (score_reads.lua, the library before this script, reads them as one: the hot set and the base's live entries are
-- two sources of the merge). ARGV: offset, limit, whether to count (1; 0: not counted, the count
-- asked for by a call of its own with limit 0 — one range only, which the merge then reads without knowing its
-- count), the stride of KEYS (1 or 3), the number of key-name parts that follow (0: no contacts read; 4 or 6: a contact's hash key (document
-- and fold states) as the text before and after its id, then its tags key's, then — until app/contact_layout.py
-- recorded its move finished — the key of its fold states hash of releases before, read while it exists), those
-- parts, then each score
-- range as max, min (as ZRANGE ... BYSCORE REV takes them), highest range first.
-- Order: the ranges one after the other; within one, score descending, then member descending by its bytes
-- (as ZRANGE ... REV orders one key, and as Python orders str ids).
-- Returns {count over every range (-1 when not counted), {member, score, member, score, ...}} (scores as Redis
-- writes them); when contacts are read, the same with a third item — per member of the page, one after the other:
-- its hash as HGETALL gives it without its timeline records (`rf_without_records`, record_fields.lua, put before
-- this script), its tags (SMEMBERS)[, the old fold states hash as HGETALL gives it] — all as one JSON text
-- (cjson; an empty list is written `{}`). Handing Redis a Lua table of ~500 values to write out cost ~15,000
-- instructions a contact (each table checked for `err`, `ok`, `double`, ... fields, each length deferred), cjson
-- ~2,000 (docs/performance.md, "Row 6 (2026-12-06, fourth session)").
--
-- The merge keeps the buckets' heads in a binary heap (~2 log2(buckets) comparisons an entry, not one per
-- bucket), and compares two heads by score, then by their members' first six bytes as one number, and only
-- when those are equal byte by byte from the seventh: scores tie often (small integers), members' first bytes
-- too ('c' and hex digits), and a Lua function call per byte cost ~15 us an entry.
local offset, limit, counted, stride = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local parts = tonumber(ARGV[5])
local first = 6 + parts  -- ARGV's first score range
-- the merge's sources: {key} (a sorted set) or {base, stale} (a score index's base, its live entries only; stale
-- false when empty: every entry live)
-- A score index's bucket at rest (hot and stale both empty: the common case after an absorb) is its base alone: an
-- EXISTS spares hot's ZCOUNT and ZRANGE, stale's ZCOUNT and a ZMSCORE per run of the base. One EXISTS of every
-- bucket's hot and stale first (all at rest: the common case), then one a bucket only when some are not.
local sources, quiet, resting = {}, {}, false
if stride == 3 then
  local moving = {}
  for k = 1, #KEYS, 3 do moving[#moving + 1] = KEYS[k]; moving[#moving + 1] = KEYS[k + 1] end
  resting = redis.call('EXISTS', unpack(moving)) == 0
end
for k = 1, #KEYS, stride do
  if stride == 3 then
    quiet[k] = resting or redis.call('EXISTS', KEYS[k], KEYS[k + 1]) == 0
    if quiet[k] then
      sources[#sources + 1] = {KEYS[k + 2], false}
    else
      sources[#sources + 1] = {KEYS[k]}
      sources[#sources + 1] = {KEYS[k + 2], KEYS[k + 1]}
    end
  else
    sources[#sources + 1] = {KEYS[k]}
  end
end
local byte, ceil, max, min, huge = string.byte, math.ceil, math.max, math.min, math.huge

-- whether member a comes after member b byte by byte from byte `from` on (Lua's < on strings follows the
-- server's locale)
local function after(a, b, from)
  for i = from, min(#a, #b) do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

-- a member's first six bytes as one number that orders as they do byte by byte (a missing byte, -1, before
-- any byte; below 2^53, so exact)
local function prefix(s)
  local a, b, c, d, e, f = byte(s, 1, 6)
  return ((((((a or -1) * 257 + (b or -1)) * 257 + (c or -1)) * 257 + (d or -1)) * 257 + (e or -1)) * 257
    + (f or -1))
end

-- a score as text to a number (Lua 5.1's tonumber does not read Redis's "inf")
local function number(text)
  local value = tonumber(text)
  if value ~= nil then return value end
  if text == '-inf' then return -huge end
  return huge
end

local counts, total, lasts = {}, 0, {}  -- lasts: each base's BASE:c `z` as its count read it (sr_counter)
if not counted then
  if #ARGV - first ~= 1 then return redis.error_reply('ERR uncounted pages take one range') end
  counts[1], total = huge, -1
else
  for r = first, #ARGV - 1, 2 do
    local n, counter = 0, nil
    if stride == 3 then
      local lo, hi = sr_bounds(ARGV[r + 1], ARGV[r])
      -- (its cells' plans made once for every bucket; BASE:c's `z` read too when the page follows)
      if lo <= hi then counter = sr_counter(lo, hi, limit > 0) end
    end
    for k = 1, #KEYS, stride do
      if stride == 3 then
        local c, last = sr_count_by(counter, KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[r + 1], ARGV[r], quiet[k])
        n = n + c
        lasts[KEYS[k + 2]] = last
      else
        n = n + redis.call('ZCOUNT', KEYS[k], ARGV[r + 1], ARGV[r])
      end
    end
    counts[#counts + 1] = n
    total = total + n
  end
end

local out = {}
local need = limit
for i, count in ipairs(counts) do
  if need <= 0 then break end
  if offset >= count then
    offset = offset - count
  else
    local high, low = ARGV[first - 2 + 2 * i], ARGV[first - 1 + 2 * i]
    local want = offset + need  -- the page lies within every bucket's first offset + need of the range
    -- each bucket read a chunk at a time, from where its last chunk ended, as the merge reaches its end: the
    -- page needs ~want entries in all, not want from every bucket
    local chunk = max(4, ceil(want / #sources) + 2)
    local lo, hi = -huge, huge  -- (a base's bounds: integers)
    if stride == 3 then lo, hi = sr_bounds(low, high) end
    -- per source: its current run (member, score, ...), the head's place in it, entries taken, more to read;
    -- the head's score, member and member prefix (a base's source reads on by its sr_base_reader)
    local runs, at, read, more, hs, hm, hp = {}, {}, {}, {}, {}, {}, {}
    local function fill(k)  -- the source's next chunk; false when it has no more in the range
      local source = sources[k]
      if source[2] == nil then
        local asked = min(chunk, want - read[k])
        local run = redis.call('ZRANGE', source[1], high, low, 'BYSCORE', 'REV', 'LIMIT', read[k], asked,
                               'WITHSCORES')
        runs[k], at[k] = run, 1
        read[k] = read[k] + #run / 2
        more[k] = #run / 2 == asked and read[k] < want
        return run[1] ~= nil
      end
      local got, ended = {}, lo > hi
      while #got == 0 and not ended do  -- a run's dead entries skipped: read on until one is live
        local asked = min(chunk, want - read[k])
        local run = source.next_run(asked)
        got = source[2] and sr_live(source[2], run) or run
        read[k] = read[k] + #got / 2
        ended = #run / 2 < asked
      end
      runs[k], at[k] = got, 1
      more[k] = not ended and read[k] < want
      return got[1] ~= nil
    end
    local function head(k)  -- the bucket's entry at at[k] becomes its head
      local member = runs[k][at[k]]
      hm[k], hs[k], hp[k] = member, number(runs[k][at[k] + 1]), prefix(member)
    end
    local function before(j, k)  -- whether bucket j's head comes before bucket k's
      local a, b = hs[j], hs[k]
      if a ~= b then return a > b end
      a, b = hp[j], hp[k]
      if a ~= b then return a > b end
      return after(hm[j], hm[k], 7)
    end
    local heap, size = {}, 0
    local function down(pos)  -- restore the heap below pos
      local k = heap[pos]
      while true do
        local c = pos * 2
        if c > size then break end
        if c < size and before(heap[c + 1], heap[c]) then c = c + 1 end
        if not before(heap[c], k) then break end
        heap[pos] = heap[c]
        pos = c
      end
      heap[pos] = k
    end
    for k = 1, #sources do
      read[k] = 0
      if sources[k][2] ~= nil then sources[k].next_run = sr_base_reader(sources[k][1], lo, hi, lasts[sources[k][1]]) end
      if fill(k) then
        head(k)
        size = size + 1
        heap[size] = k
      end
    end
    for pos = math.floor(size / 2), 1, -1 do down(pos) end
    local taken = 0
    while taken < want and size > 0 do  -- merge: the heap's top is the next entry
      local k = heap[1]
      taken = taken + 1
      local run, j = runs[k], at[k]
      if taken > offset then
        out[#out + 1] = run[j]
        out[#out + 1] = run[j + 1]
      end
      at[k] = j + 2
      if run[j + 2] ~= nil or (more[k] and fill(k)) then
        head(k)
      else
        heap[1] = heap[size]
        size = size - 1
      end
      if size > 0 then down(1) end
    end
    need = need - max(0, taken - offset)
    offset = 0
  end
end
if parts == 0 then
  return {total, out}
end
local contacts, n = {}, 0
for j = 1, #out, 2 do
  local id = out[j]
  contacts[n + 1] = rf_without_records(redis.call('HGETALL', ARGV[6] .. id .. ARGV[7]))
  contacts[n + 2] = redis.call('SMEMBERS', ARGV[8] .. id .. ARGV[9])
  n = n + 2
  if parts == 6 then
    n = n + 1
    contacts[n] = redis.call('HGETALL', ARGV[10] .. id .. ARGV[11])
  end
end
return cjson.encode({total, out, contacts})
