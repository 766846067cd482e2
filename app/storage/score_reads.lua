-- score_reads.lua: the score index's reads, a library prepended (after ordered_index.lua) to the scripts that read
-- it: score_base.lua, filter_bucket.lua, index_page.lua. A version's bucket is three keys read as one
-- (score_base.lua states the invariant): hot (a plain sorted set), stale (the base's dead entries, member at the
-- score the base holds it) and base (a compact ordered index); hot and the live base entries are disjoint.
-- Ranges come as two texts (as ZRANGE ... BYSCORE takes them: "-inf", "(5", "7") and the same as integer bounds
-- (the base's scores are integers), lo > hi for an empty range.

-- The integer bounds of a range given as ZRANGE's texts.
local function sr_bounds(min, max)
  local lo, hi = -math.huge, math.huge
  if min ~= '-inf' then
    if string.sub(min, 1, 1) == '(' then lo = math.floor(tonumber(string.sub(min, 2))) + 1
    else lo = math.ceil(tonumber(min)) end
  end
  if max ~= '+inf' and max ~= 'inf' then
    if string.sub(max, 1, 1) == '(' then hi = math.ceil(tonumber(string.sub(max, 2))) - 1
    else hi = math.floor(tonumber(max)) end
  end
  return lo, hi
end

-- The live entries of a run of base entries (member, score, ...): those whose member stale does not hold.
local function sr_live(stale, flat)
  if #flat == 0 then return flat end
  local out = {}
  for i = 1, #flat, 1000 do
    local members = {}
    for k = i, math.min(i + 999, #flat), 2 do members[#members + 1] = flat[k] end
    local dead = redis.call('ZMSCORE', stale, unpack(members))
    for k = 1, #members do
      if not dead[k] then
        out[#out + 1] = flat[i + 2 * k - 2]
        out[#out + 1] = flat[i + 2 * k - 1]
      end
    end
  end
  return out
end

-- The base's entries counted by score cells, so a count reads a few small hashes whatever the contacts and the
-- scores in range. A cell at level K (0..SR_LEVELS) holds the entries with scores in [C * 16^K, (C + 1) * 16^K - 1];
-- its count is field C of the hash BASE:c:K:P, P = C's cell one level up (so a hash holds at most 16 fields and
-- keeps Redis's compact encoding, where a look-up reads the hash through: one big hash of every cell cost ~45 us a
-- count). BASE:c holds `t`, every entry, `lo`, a lower bound of every score the base has held (an absorb lowers it, a
-- removal leaves it), `z` (sr_keep_last), and a field per cell hash that exists (its name after BASE, the names a drop
-- deletes). A range [lo, hi] is its edge cells at each level up to the first whose one cell would cover it: two hashes
-- a level. The hash of level 1's first parent (the cells of scores 0 to 255, where most scores are) is BASE:c itself,
-- its fields '0' to '15' beside `t`, `lo` and `z`, so a page's count reads them with those (sr_counter).
local SR_LEVELS = 7

-- The name after BASE of the hash of level k's cells whose parent is cell p of level k + 1.
local function sr_cell_hash(k, p)
  if k == 1 and p == 0 then return ':c' end
  return string.format(':c:%d:%d', k, p)
end

-- Counts by cell moved: deltas[hash][cell] += d for each cell of score s (sr_count_flush writes them).
local function sr_tally(deltas, s, d)
  deltas.t = (deltas.t or 0) + d
  if d > 0 and (deltas.lo == nil or s < deltas.lo) then deltas.lo = s end
  local w = 1
  for k = 0, SR_LEVELS do
    local c = math.floor(s / w)
    local key = sr_cell_hash(k, math.floor(c / 16))
    local cells = deltas[key]
    if not cells then cells = {}; deltas[key] = cells end
    local f = string.format('%d', c)
    cells[f] = (cells[f] or 0) + d
    w = w * 16
  end
end

local function sr_count_flush(base, deltas)
  local c = base .. ':c'
  for key, cells in pairs(deltas) do
    if key ~= 't' and key ~= 'lo' then
      local name, home = base .. key, key == ':c'
      local touched = false
      for f, d in pairs(cells) do
        if d ~= 0 then
          touched = true
          if redis.call('HINCRBY', name, f, d) == 0 then redis.call('HDEL', name, f) end
        end
      end
      if touched and not home then
        if redis.call('EXISTS', name) == 1 then redis.call('HSETNX', c, key, 1) else redis.call('HDEL', c, key) end
      end
    end
  end
  if deltas.t and deltas.t ~= 0 then redis.call('HINCRBY', c, 't', deltas.t) end
  if deltas.lo then
    local low = tonumber(redis.call('HGET', c, 'lo'))
    if low == nil or deltas.lo < low then redis.call('HSET', c, 'lo', string.format('%d', deltas.lo)) end
  end
end

-- The base's count at score s moved by d.
local function sr_counted(base, s, d)
  local deltas = {}
  sr_tally(deltas, tonumber(s), d)
  sr_count_flush(base, deltas)
end

-- BASE:c's `z`: the directory entry of the base's last leaf, kept by every write of the base (an absorb's), so a
-- read from the base's top (sr_base_reader, given it by sr_counter with `t`) needs no directory look-up.
local function sr_keep_last(base)
  local e = redis.call('ZRANGE', base .. ':d', -1, -1)[1]
  if e then redis.call('HSET', base .. ':c', 'z', e) else redis.call('HDEL', base .. ':c', 'z') end
end

-- Every key of the base's counts (a drop's).
local function sr_count_keys(base)
  local out = {base .. ':c'}
  for _, key in ipairs(redis.call('HKEYS', base .. ':c')) do
    if string.byte(key, 1) == 58 then out[#out + 1] = base .. key end  -- (':': a cell hash's name)
  end
  return out
end

-- The leaf a directory entry (SEP .. NUL .. ID, its only NUL: oi_escape) names, found by a plain search for the NUL:
-- string.match(e, '%z(%d+)$') tries its pattern from every byte (~6k instructions an entry, callgrind), and a page
-- reads a leaf of each of its 16 bases.
local function sr_leaf(base, e)
  return base .. ':l:' .. string.sub(e, string.find(e, '\0', 1, true) + 1)
end

-- The base's lowest or highest score (nil: empty), from its first or last leaf.
local function sr_base_end(base, last)
  local at = last and -1 or 0
  local e = redis.call('ZRANGE', base .. ':d', at, at)[1]
  if not e then return nil end
  local got = redis.call('ZRANGE', sr_leaf(base, e), at, at, 'WITHSCORES')
  return got[2] and tonumber(got[2])
end

-- The cells whose counts add up to the entries with a score within [lo, hi] (integers): a list of {the cell hash's
-- name after BASE, its fields}, the same for every base (sr_counter makes it once for all the buckets of a page);
-- plan.home is the item whose hash is BASE:c, if any. Names by string.format('%d'): tostring and `..` write a number
-- by '%.14g', ~5x the instructions (callgrind).
local function sr_cells_plan(lo, hi)
  local plan, floor, format = {}, math.floor, string.format
  local function add(k, a, b)  -- the cells a to b of level k (all children of one cell a level up)
    local fields = {}
    for x = a, b do fields[#fields + 1] = format('%d', x) end
    local item = {sr_cell_hash(k, floor(a / 16)), fields}
    plan[#plan + 1] = item
    if item[1] == ':c' then plan.home = item end
  end
  local w, k = 1, 0
  while lo <= hi do
    local next_w = w * 16
    local a, b = floor(lo / w), floor(hi / w)  -- the range in cells of this level
    if k == SR_LEVELS then
      for p = floor(a / 16), floor(b / 16) do add(k, math.max(a, p * 16), math.min(b, p * 16 + 15)) end
      break
    end
    if lo % next_w ~= 0 then  -- the left edge: cells a to the end of its parent (or b)
      local e = math.min(b, floor(a / 16) * 16 + 15)
      add(k, a, e)
      lo = (e + 1) * w
    end
    if lo <= hi and (hi + 1) % next_w ~= 0 then  -- the right edge: the start of its parent to b
      local e = math.max(floor(lo / w), floor(b / 16) * 16)
      add(k, e, b)
      hi = e * w - 1
    end
    w, k = next_w, k + 1
  end
  return plan
end

-- The counts of a plan's cells in one base, added; got: BASE:c's HMGET with plan.home's cells from got[from + 1] on,
-- when the counter read them there (a count's text added as a number: Lua converts it as tonumber would, without
-- the call).
local function sr_plan_count(base, plan, got, from)
  local n = 0
  for _, cell in ipairs(plan) do
    if cell == plan.home and got then
      for i = from + 1, #got do
        local v = got[i]
        if v then n = n + v end
      end
    else
      for _, v in ipairs(redis.call('HMGET', base .. cell[1], unpack(cell[2]))) do
        if v then n = n + v end
      end
    end
  end
  return n
end

-- A counter of the base's entries (live and dead) with a score within [lo, hi] (integers or infinities), for any
-- number of bases: counter(base) returns the count and, with_last, BASE:c's `z` (the directory entry of the base's
-- last leaf, for sr_base_reader; nil if not kept). An open end costs no read of the base's ends: an open top is every
-- entry (`t`) less those below lo, counted from BASE:c's lower bound `lo` (the cells of [lo, hi] and of its
-- complement are as many); an open bottom starts at that bound. One BASE:c read a base (`t`, `lo`, `z` when asked
-- for, and the cells BASE:c holds of the plan the base before needed: bases of one page mostly need the same one),
-- then the plan's other cells; the plans made once for each lower bound seen. (A field of a small hash is found by
-- reading the hash from its start: `z` only when a page is read after the count.)
local function sr_counter(lo, hi, with_last)
  local plans, guess, head = {}, nil, with_last and 3 or 2  -- head: the fields BASE:c's read asks for first
  local function plan_of(a, b)
    local plan = plans[a]
    if not plan then
      plan = sr_cells_plan(a, b)
      if plan.home then  -- BASE:c's read when the base before needed this plan: the head, then its cells
        plan.ask = with_last and {'t', 'lo', 'z'} or {'t', 'lo'}
        for i, f in ipairs(plan.home[2]) do plan.ask[head + i] = f end
      end
      plans[a] = plan
    end
    return plan
  end
  return function(base)
    local got
    if guess and guess.home then
      got = redis.call('HMGET', base .. ':c', unpack(guess.ask))
    elseif with_last then
      got = redis.call('HMGET', base .. ':c', 't', 'lo', 'z')
    else
      got = redis.call('HMGET', base .. ':c', 't', 'lo')
    end
    local total, low, last = tonumber(got[1] or '0'), tonumber(got[2]), with_last and got[3] or nil
    if total == 0 then return 0, last end
    if lo == -math.huge and hi == math.huge then return total, last end
    if low == nil then low = sr_base_end(base, false) end  -- (a base its last absorb left without the bound)
    if not low then return 0, last end
    local a, b, sign, n = lo, hi, 1, 0
    if hi == math.huge then
      if lo <= low then return total, last end
      a, b, sign, n = low, lo - 1, -1, total
    else
      if a == -math.huge or a < low then a = low end
      if a > b then return 0, last end
    end
    local plan = plan_of(a, b)
    local read = plan == guess and plan.home and got or nil
    guess = plan
    return n + sign * sr_plan_count(base, plan, read, head), last
  end
end

-- How many members have a score within [min, max]: hot's, the base's (by its cells: counter, sr_counter of the
-- range's bounds, nil when they are empty), less the base's dead; and BASE:c's `z` when read. quiet: the caller saw
-- hot and stale both empty (the base alone is read).
local function sr_count_by(counter, hot, stale, base, min, max, quiet)
  local n = quiet and 0 or redis.call('ZCOUNT', hot, min, max)
  if not counter then return n end
  local c, last = counter(base)
  n = n + c
  if n == 0 or quiet then return n, last end
  return n - redis.call('ZCOUNT', stale, min, max), last
end

local function sr_count(hot, stale, base, min, max, quiet)
  local lo, hi = sr_bounds(min, max)
  return (sr_count_by(lo <= hi and sr_counter(lo, hi) or nil, hot, stale, base, min, max, quiet))
end

-- Every member with a score within [min, max], appended to out (hot's in order, then the base's).
local function sr_members(hot, stale, base, min, max, out)
  for _, m in ipairs(redis.call('ZRANGE', hot, min, max, 'BYSCORE')) do out[#out + 1] = m end
  local lo, hi = sr_bounds(min, max)
  if lo > hi then return out end
  local flat = sr_live(stale, oi_range(base, lo, hi, 0, -1))
  for i = 1, #flat, 2 do out[#out + 1] = flat[i] end
  return out
end

-- A walk of [min, max] from the highest down (as sr_rev_range orders it), a chunk a call of the function returned
-- (count entries, fewer at the end), each source keeping its place: hot's by its offset (as a sorted set's walk
-- reads it), the base's by its leaf and the place in that leaf, so a deep walk reads each entry once and never
-- merges from the top again.
-- An integer or infinity as oi_bound writes it, made once a script call for each (a page's bases read with the same
-- bounds, limits and offsets: a number passed to redis.call is written by '%.14g', the costliest way).
local sr_texts = {}
local function sr_text(s)
  local text = sr_texts[s]
  if not text then text = oi_bound(s); sr_texts[s] = text end
  return text
end

-- The base's entries (dead ones too) within [lo, hi] (integers or infinities) from the highest down, n a call of the
-- function returned (fewer only at the end), keeping its place (its leaf and the place in that leaf): a run read on
-- costs one call, where oi_rev_range from an offset costs a directory look-up, a ZCOUNT and the read. last: BASE:c's
-- `z` when the caller read it (sr_counter), so a read from the top needs no directory look-up.
local function sr_base_reader(base, lo, hi, last)
  local e, pos = nil, 0
  local d = base .. ':d'
  if lo <= hi then
    if hi >= OI_OFFSET then
      e = last or redis.call('ZRANGE', d, -1, -1)[1]
    else
      e = redis.call('ZREVRANGEBYLEX', d, '(' .. oi_key(hi + 1, ''), '-', 'LIMIT', 0, 1)[1]
    end
  end
  local blo, bhi = sr_text(lo), sr_text(hi)
  return function(n)
    local run = {}
    while #run < 2 * n and e do
      local got = redis.call('ZREVRANGEBYSCORE', sr_leaf(base, e), bhi, blo,
                             'WITHSCORES', 'LIMIT', sr_text(pos), sr_text(n - #run / 2))
      if #run == 0 then run = got else for i = 1, #got do run[#run + 1] = got[i] end end
      pos = pos + #got / 2
      if #run < 2 * n then  -- the leaf is done: the one before it, unless it starts below the range
        if oi_sep_score(e) < lo then e = nil else e = redis.call('ZREVRANGEBYLEX', d, '(' .. e, '-', 'LIMIT', 0, 1)[1] end
        pos = 0
      end
    end
    return run
  end
end

local function sr_walker(hot, stale, base, max, min)
  local lo, hi = sr_bounds(min, max)
  local a, ai, a_read, a_more = {}, 1, 0, true
  local b, bi, b_more = {}, 1, true
  local next_run = sr_base_reader(base, lo, hi)
  local function fill_a(n)
    if ai > #a and a_more then
      a = redis.call('ZRANGE', hot, max, min, 'BYSCORE', 'REV', 'LIMIT', a_read, n, 'WITHSCORES')
      ai, a_read, a_more = 1, a_read + #a / 2, #a / 2 == n
    end
  end
  local function fill_b(n)
    while bi > #b and b_more do
      local run = next_run(n)
      b_more = #run == 2 * n
      b, bi = sr_live(stale, run), 1
    end
  end
  return function(count)
    local out = {}
    while #out / 2 < count do
      fill_a(count)
      fill_b(count)
      local ha, hb = a[ai] ~= nil, b[bi] ~= nil
      if not ha and not hb then break end
      local take_a = not hb
      if ha and hb then
        local sa, sb = tonumber(a[ai + 1]), tonumber(b[bi + 1])
        take_a = sa > sb or (sa == sb and oi_before(b[bi], a[ai]))
      end
      if take_a then
        out[#out + 1] = a[ai]; out[#out + 1] = a[ai + 1]; ai = ai + 2
      else
        out[#out + 1] = b[bi]; out[#out + 1] = b[bi + 1]; bi = bi + 2
      end
    end
    return out
  end
end

-- [member, score, ...] within [min, max] from the highest down (score, then member bytes, descending: ZRANGE ... REV
-- of one key), from the offset-th, at most count (count < 0: all): sr_walker's first offset + count.
local function sr_rev_range(hot, stale, base, max, min, offset, count)
  local next_chunk = sr_walker(hot, stale, base, max, min)
  local out
  if count >= 0 then
    out = next_chunk(offset + count)
  else
    out = {}
    repeat
      local chunk = next_chunk(1000)
      for i = 1, #chunk do out[#out + 1] = chunk[i] end
    until #chunk == 0
  end
  if offset == 0 then return out end
  local page = {}  -- (a loop: unpack of a long run would pass Lua's stack)
  for i = 2 * offset + 1, #out do page[#page + 1] = out[i] end
  return page
end

-- A member's score (as ZSCORE answers: its text, or false): hot's; else, when stale does not hold it, the base's at
-- `candidate` (a number or nil: the score the member's fold state holds) if the base holds it there.
local function sr_score(hot, stale, base, member, candidate)
  local s = redis.call('ZSCORE', hot, member)
  if s then return s end
  if not candidate or candidate ~= math.floor(candidate) or math.abs(candidate) > OI_OFFSET then return false end
  if redis.call('ZSCORE', stale, member) then return false end
  local e, id = oi_find(base, oi_key(candidate, member))
  if not e then return false end
  local held = redis.call('ZSCORE', base .. ':l:' .. id, member)
  if held and tonumber(held) == candidate then return held end
  return false
end

-- The score a fold state's stored text begins with (`{"s":N`, FoldState.to_json; its first piece when in pieces).
local function sr_state_score(text)
  if not text then return nil end
  return tonumber(string.match(text, '^{"s":%s*(-?%d+)'))
end
