-- ordered_index.lua: the compact ordered index, a library prepended to the scripts that use it
-- (app/storage/ordered_index.py: library_script). docs/performance.md, "Row 5a (2026-12-03 afternoon)".
--
-- An index bucket is a sorted set split by range into *leaves*: small sorted sets of at most `max` entries
-- (fewer than Redis's zset-max-listpack-entries, so each stays a compact listpack, ~35 B an entry instead of a
-- skiplist node's ~120 B), plus a directory of the leaves. Every key shares the bucket's hash tag (the base
-- name, e.g. `sk:{xp:3}`), so one script reaches them all on a cluster:
--   BASE:d    the directory: a sorted set, every score 0, one member per leaf, SEP .. "\0" .. ID, ordered by
--             bytes, where SEP is the lowest (score, member) key the leaf covers (`oi_key`): the leaf covers
--             [its SEP, the next leaf's SEP). The first leaf's SEP is "" and it is never dropped.
--   BASE:l:ID a leaf: a sorted set of (score, member), as the big sorted set held them.
--   BASE:n    the last leaf ID given (a counter).
--   BASE:z    the sizes, of an index that is counted: a hash of leaf ID -> its entries, and "t" -> the index's,
--             so a count reads the leaves a range covers whole from here and only its two edge leaves (oi_count).
--             Every writer keeps it exact when it exists; only `oi_size_all` makes it (app/indexes.py: sizes_once,
--             for the registry, the latest activity and the rosters; roster.lua, for a roster's new index), and an
--             index without it (a release before's, the search terms', the expiries') is counted leaf by leaf.
-- Scores are integers in [-2^52, 2^52]; members are non-empty, of any bytes (a search term holds a NUL): in the
-- directory a member's bytes 0 and 1 are written as 1 1 and 1 2 (`oi_escape`, which keeps the byte order), so
-- the NUL before a leaf's ID is the entry's only one. Order is (score, member bytes), Redis's own, so ties at one
-- score may span many leaves. A member is found by its (score, member): a writer removes an entry by the score it
-- was added with (`oi_remove`).
local OI_OFFSET = 4503599627370496  -- 2^52: scores as non-negative integers below 2^53 (exact in a double), in hex

local function oi_score(text)
  if text == '-inf' then return -math.huge end
  if text == '+inf' or text == 'inf' then return math.huge end
  local s = tonumber(text)
  if s == nil or s ~= math.floor(s) or s < -OI_OFFSET or s > OI_OFFSET then
    error('ordered index: score not an integer in [-2^52, 2^52]: ' .. tostring(text))
  end
  return s
end

local OI_ESCAPES = {['\0'] = '\1\1', ['\1'] = '\1\2'}

-- A member without NUL, ordered byte by byte as the member is (and a prefix of another escaped as a prefix).
local function oi_escape(m)
  if not string.find(m, '[%z\1]') then return m end
  return (string.gsub(m, '[%z\1]', OI_ESCAPES))
end

-- The byte string that orders (score, member) as Redis does: 16 hex digits of the score, then the member escaped.
local function oi_key(s, m)
  return string.format('%016x', s + OI_OFFSET) .. oi_escape(m)
end

-- A directory entry's SEP score (-inf for the first leaf's, which covers everything below the second).
local function oi_sep_score(e)
  if string.byte(e, 1) == 0 then return -math.huge end
  return tonumber(string.sub(e, 1, 16), 16) - OI_OFFSET
end

-- Whether byte string a sorts before b (Lua's < on strings follows the server's locale, Redis's order is bytes).
local function oi_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Whether base keeps its sizes (BASE:z), asked once a script call (oi_sizes_start and oi_drop say otherwise).
local OI_SIZED = {}
local function oi_sized(base)
  if OI_SIZED[base] == nil then OI_SIZED[base] = redis.call('EXISTS', base .. ':z') == 1 end
  return OI_SIZED[base]
end

-- A leaf's size, and the index's unless `within` (an entry that moved between leaves), changed by delta (a leaf
-- gone: pass gone, its field goes).
local function oi_grow(base, id, delta, gone, within)
  if not oi_sized(base) then return end
  local z = base .. ':z'
  if gone then redis.call('HDEL', z, id) elseif delta ~= 0 then redis.call('HINCRBY', z, id, delta) end
  if delta ~= 0 and not within then redis.call('HINCRBY', z, 't', delta) end
end

-- A leaf's size set to n (when its entries were rewritten); the index's total moves by the difference.
local function oi_set_size(base, id, n)
  if not oi_sized(base) then return end
  local z = base .. ':z'
  local before = tonumber(redis.call('HGET', z, id) or '0')
  redis.call('HSET', z, id, n)
  if n ~= before then redis.call('HINCRBY', z, 't', n - before) end
end

-- A new index's first leaf: its directory entry, and its size (0: the caller's add counts the entry) when sized.
local function oi_start(base)
  local id = redis.call('INCR', base .. ':n')
  redis.call('ZADD', base .. ':d', 0, '\0' .. id)
  if oi_sized(base) then redis.call('HSET', base .. ':z', id, 0) end
  return id
end

-- The directory entry of the leaf that covers key, and its leaf's ID (nil when the index is empty).
local function oi_find(base, key)
  local e = redis.call('ZREVRANGEBYLEX', base .. ':d', '[' .. key .. '\0\255', '-', 'LIMIT', 0, 1)[1]
  if not e then return nil end
  return e, string.match(e, '%z(%d+)$')
end

-- The upper half of a full leaf moves to a new leaf, whose SEP is its lowest entry.
local function oi_split(base, leaf)
  local n = redis.call('ZCARD', leaf)
  local upper = redis.call('ZRANGE', leaf, math.floor(n / 2), -1, 'WITHSCORES')
  local id = redis.call('INCR', base .. ':n')
  local args = {}
  for i = 1, #upper, 2 do
    args[#args + 1] = upper[i + 1]
    args[#args + 1] = upper[i]
  end
  redis.call('ZADD', base .. ':l:' .. id, unpack(args))
  redis.call('ZREMRANGEBYRANK', leaf, math.floor(n / 2), -1)
  redis.call('ZADD', base .. ':d', 0, oi_key(tonumber(upper[2]), upper[1]) .. '\0' .. id)
  if oi_sized(base) then
    redis.call('HSET', base .. ':z', string.match(leaf, '(%d+)$'), math.floor(n / 2), id, #upper / 2)
  end
end

-- Add (s, m) to the leaf that covers it, which is split when that makes it hold more than max (so a leaf never
-- holds more than max + 1: keep max + 1 within zset-max-listpack-entries); 1 if new there, else 0. An entry already
-- there costs two calls (the directory's, the ZADD). A leaf holds a member once: an add at another score moves the
-- member's entry in that leaf; `forward` (true) moves it only to a higher score (ZADD GT), never back.
local function oi_add(base, s, m, max, forward)
  local key = oi_key(s, m)
  local e, id = oi_find(base, key)
  if not e then
    id = oi_start(base)
    oi_grow(base, id, 1)
    return redis.call('ZADD', base .. ':l:' .. id, s, m)
  end
  local leaf = base .. ':l:' .. id
  local added
  if forward then added = redis.call('ZADD', leaf, 'GT', s, m) else added = redis.call('ZADD', leaf, s, m) end
  if added == 1 then
    oi_grow(base, id, 1)
    if redis.call('ZCARD', leaf) > max then oi_split(base, leaf) end
  end
  return added
end

-- ZADD key with the entries i..j of flat ({member, score, ...}, as ZRANGE ... WITHSCORES gives them), in chunks;
-- how many were new there.
local function oi_zadd_flat(key, flat, i, j)
  local args, added = {}, 0
  for k = i, j do
    args[#args + 1] = flat[2 * k]
    args[#args + 1] = flat[2 * k - 1]
    if #args >= 400 or k == j then
      added = added + redis.call('ZADD', key, unpack(args))
      args = {}
    end
  end
  return added
end

-- Put the entries i..j of flat, all covered by leaf, into it; a leaf they would take past max is rebuilt (a sorted
-- set past 128 entries would not return to the listpack) as leaves of about 3/4 max each, through a scratch key.
local function oi_fill(base, leaf, flat, i, j, max)
  local leaf_id = string.match(leaf, '(%d+)$')
  if redis.call('ZCARD', leaf) + (j - i + 1) <= max then
    oi_grow(base, leaf_id, oi_zadd_flat(leaf, flat, i, j))
    return
  end
  local tmp = base .. ':t'
  local held = redis.call('ZRANGE', leaf, 0, -1, 'WITHSCORES')
  if #held > 0 then oi_zadd_flat(tmp, held, 1, #held / 2) end
  oi_zadd_flat(tmp, flat, i, j)  -- after the leaf's own: a member in both takes the new score, as ZADD does
  redis.call('DEL', leaf)
  local total = redis.call('ZCARD', tmp)
  local pieces = math.ceil(total / math.max(1, math.floor(max * 3 / 4)))
  local size = math.ceil(total / pieces)
  for p = 0, pieces - 1 do
    local part = redis.call('ZRANGE', tmp, p * size, (p + 1) * size - 1, 'WITHSCORES')
    local key, id = leaf, leaf_id  -- the first piece keeps the leaf and its SEP (every entry is at or above it)
    if p > 0 then
      id = redis.call('INCR', base .. ':n')
      key = base .. ':l:' .. id
      redis.call('ZADD', base .. ':d', 0, oi_key(tonumber(part[2]), part[1]) .. '\0' .. id)
    end
    oi_set_size(base, id, oi_zadd_flat(key, part, 1, #part / 2))
  end
  redis.call('DEL', tmp)
end

-- Add many entries at once: flat is {member, score, ...} in (score, member) order, as ZRANGE ... WITHSCORES gives
-- them. The entries one leaf covers go in together (found by a binary search for the next leaf's SEP), so an
-- entry costs a share of one ZADD rather than a directory look-up and a ZADD of its own.
local function oi_add_sorted(base, flat, max)
  local d, n, i = base .. ':d', #flat / 2, 1
  local function key_of(k) return oi_key(oi_score(flat[2 * k]), flat[2 * k - 1]) end
  while i <= n do
    local e, id = oi_find(base, key_of(i))
    if not e then
      id = oi_start(base)
      e = '\0' .. id
    end
    local j = n
    local after = redis.call('ZRANGEBYLEX', d, '(' .. e, '+', 'LIMIT', 0, 1)[1]
    if after then  -- the last entry below the next leaf's SEP (entry i is: its leaf is e)
      local sep, lo, hi = string.match(after, '^(.*)%z%d+$'), i, n
      while lo < hi do
        local mid = math.floor((lo + hi + 1) / 2)
        if oi_before(key_of(mid), sep) then lo = mid else hi = mid - 1 end
      end
      j = lo
    end
    oi_fill(base, base .. ':l:' .. id, flat, i, j, max)
    i = j + 1
  end
end

-- Add {score, member} pairs given in any order: sorted as the index orders them (score, then member), then added
-- as oi_add_sorted does. Returns how many.
local function oi_add_pairs(base, entries, max)
  table.sort(entries, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return oi_before(a[2], b[2])
  end)
  local flat = {}
  for _, e in ipairs(entries) do flat[#flat + 1] = e[2]; flat[#flat + 1] = string.format('%d', e[1]) end
  if #flat > 0 then oi_add_sorted(base, flat, max) end
  return #entries
end

-- Remove (s, m) if it is there at exactly that score; 1 if removed, else 0. A leaf left empty leaves the
-- directory (all but the first).
local function oi_remove(base, s, m)
  local e, id = oi_find(base, oi_key(s, m))
  if not e then return 0 end
  local leaf = base .. ':l:' .. id
  local held = redis.call('ZSCORE', leaf, m)
  if not held or tonumber(held) ~= s then return 0 end
  redis.call('ZREM', leaf, m)
  local gone = string.byte(e, 1) ~= 0 and redis.call('EXISTS', leaf) == 0
  if gone then redis.call('ZREM', base .. ':d', e) end
  oi_grow(base, id, -1, gone)
  return 1
end

-- Move m's entry from score s0 to s1 (a writer that knows the score held): when one leaf covers both, the score
-- changes in place (one ZADD, no removal and no size check unless the entry was missing); else a removal from the one
-- leaf and an add to the other. One directory look-up finds the leaf of the higher key, which covers the lower too
-- when its SEP is not above it (its SEP's score below the lower score says so without comparing bytes); when it does
-- not, that leaf is the old one's or the new one's, and only the other is looked up.
local function oi_move(base, s0, s1, m, max)
  local lo, hi = s0, s1
  if s1 < s0 then lo, hi = s1, s0 end
  local em = oi_escape(m)
  local e, id = oi_find(base, string.format('%016x', hi + OI_OFFSET) .. em)
  if not e then
    oi_add(base, s1, m, max)
    return
  end
  local sep = oi_sep_score(e)
  local lo_key
  if sep == lo then lo_key = string.format('%016x', lo + OI_OFFSET) .. em end
  if sep < lo or (sep == lo and not oi_before(lo_key, string.match(e, '^(.*)%z%d+$'))) then
    local leaf = base .. ':l:' .. id
    if redis.call('ZADD', leaf, s1, m) == 1 then
      oi_grow(base, id, 1)
      if redis.call('ZCARD', leaf) > max then oi_split(base, leaf) end
    end
    return
  end
  local e0, id0, leaf1  -- the old entry's directory entry and leaf id, the new entry's leaf
  if s1 == hi then
    e0, id0 = oi_find(base, lo_key or (string.format('%016x', lo + OI_OFFSET) .. em))
    leaf1 = base .. ':l:' .. id
  else
    e0, id0 = e, id
  end
  local removed = 0
  if e0 then  -- (the member goes whatever its score there: it ends at s1)
    local leaf0 = base .. ':l:' .. id0
    removed = redis.call('ZREM', leaf0, m)
    if removed == 1 then
      local gone = string.byte(e0, 1) ~= 0 and redis.call('EXISTS', leaf0) == 0
      if gone then redis.call('ZREM', base .. ':d', e0) end
      oi_grow(base, id0, -1, gone, leaf1 ~= nil)  -- (the total: unchanged when the add below is new)
    end
  end
  if leaf1 then
    local added = redis.call('ZADD', leaf1, s1, m)
    if added == 1 then oi_grow(base, id, 1, false, true) end
    if added ~= removed and oi_sized(base) then redis.call('HINCRBY', base .. ':z', 't', added - removed) end
    if added == 1 and redis.call('ZCARD', leaf1) > max then oi_split(base, leaf1) end
  else
    oi_add(base, s1, m, max)
  end
end

-- Calls fn(leaf) for each leaf that may hold entries with scores in [min, max], in order, until fn returns true.
local function oi_walk(base, min, max, fn)
  local d = base .. ':d'
  local e
  if min == -math.huge then
    e = redis.call('ZRANGE', d, 0, 0)[1]
  else
    e = oi_find(base, oi_key(min, ''))
  end
  if not e then return end
  local from = '[' .. e
  while true do
    local batch = redis.call('ZRANGEBYLEX', d, from, '+', 'LIMIT', 0, 32)
    for i = 1, #batch do
      local f = batch[i]
      -- a leaf whose SEP's score is above max holds only entries above it, as do all after it (the scores are
      -- compared as numbers: Lua compares strings with strcoll, in the server's locale)
      if max ~= math.huge and oi_sep_score(f) > max then
        return
      end
      if fn(base .. ':l:' .. string.match(f, '%z(%d+)$')) then return end
    end
    if #batch < 32 then return end
    from = '(' .. batch[#batch]
  end
end

local function oi_bound(s)
  if s == -math.huge then return '-inf' end
  if s == math.huge then return '+inf' end
  return string.format('%d', s)
end

-- The sum of the sizes of the leaves of the directory entries from..to (as ZRANGEBYLEX takes them), nil if one is
-- missing from BASE:z.
local function oi_size_sum(base, from, to)
  local d, n = base .. ':d', 0
  while true do
    local batch = redis.call('ZRANGEBYLEX', d, from, to, 'LIMIT', 0, 1000)
    if #batch == 0 then return n end
    local ids = {}
    for i = 1, #batch do ids[i] = string.match(batch[i], '%z(%d+)$') end
    for _, v in ipairs(redis.call('HMGET', base .. ':z', unpack(ids))) do
      if not v then return nil end
      n = n + tonumber(v)
    end
    if #batch < 1000 then return n end
    from = '(' .. batch[#batch]
  end
end

-- How many entries have scores in [min, max], from the sizes (BASE:z): the two edge leaves counted, the leaves
-- between them summed from their sizes, or when fewer are outside them, the total less the outside's. Nil when
-- the index has no sizes (a release before wrote it) or is empty.
local function oi_count_sized(base, min, max)
  if not oi_sized(base) then return nil end
  local z, d = base .. ':z', base .. ':d'
  if min == -math.huge and max == math.huge then return tonumber(redis.call('HGET', z, 't')) end
  if min > max or max == -math.huge or min == math.huge then return 0 end  -- (every score is finite)
  local first
  if min == -math.huge then first = redis.call('ZRANGE', d, 0, 0)[1] else first = oi_find(base, oi_key(min, '')) end
  local last
  if max >= OI_OFFSET then
    last = redis.call('ZRANGE', d, -1, -1)[1]
  else
    last = redis.call('ZREVRANGEBYLEX', d, '(' .. oi_key(max + 1, ''), '-', 'LIMIT', 0, 1)[1]
  end
  if not first or not last then return nil end
  local lo, hi = oi_bound(min), oi_bound(max)
  local n = redis.call('ZCOUNT', base .. ':l:' .. string.match(first, '%z(%d+)$'), lo, hi)
  if first == last then return n end
  n = n + redis.call('ZCOUNT', base .. ':l:' .. string.match(last, '%z(%d+)$'), lo, hi)
  local below = redis.call('ZLEXCOUNT', d, '-', '(' .. first)
  local above = redis.call('ZLEXCOUNT', d, '(' .. last, '+')
  local between = redis.call('ZCARD', d) - below - above - 2
  local mid
  if between <= below + above + 2 then
    mid = oi_size_sum(base, '(' .. first, '(' .. last)
  else
    local t, outside, after = tonumber(redis.call('HGET', z, 't')), oi_size_sum(base, '-', '[' .. first),
      oi_size_sum(base, '[' .. last, '+')
    if t and outside and after then mid = t - outside - after end
  end
  if not mid then return nil end
  return n + mid
end

-- The sizes (BASE:z) written anew from the leaves (an index not made yet: sized, empty): for an index a release
-- before wrote (app/indexes.py: sizes_once) or one about to be made (roster.lua); how many entries it holds.
local function oi_size_all(base)
  local z, d = base .. ':z', base .. ':d'
  redis.call('DEL', z)
  OI_SIZED[base] = true
  local t, from = 0, '-'
  while true do
    local batch = redis.call('ZRANGEBYLEX', d, from, '+', 'LIMIT', 0, 500)
    local args = {}
    for i = 1, #batch do
      local id = string.match(batch[i], '%z(%d+)$')
      local n = redis.call('ZCARD', base .. ':l:' .. id)
      args[#args + 1] = id
      args[#args + 1] = n
      t = t + n
    end
    if #args > 0 then redis.call('HSET', z, unpack(args)) end
    if #batch < 500 then break end
    from = '(' .. batch[#batch]
  end
  redis.call('HSET', z, 't', t)
  return t
end

-- How many entries have scores in [min, max]: from the sizes when the index keeps them, else leaf by leaf.
local function oi_count(base, min, max)
  local sized = oi_count_sized(base, min, max)
  if sized then return sized end
  local n = 0
  local lo, hi = oi_bound(min), oi_bound(max)
  local whole = min == -math.huge and max == math.huge
  oi_walk(base, min, max, function(leaf)
    if whole then
      n = n + redis.call('ZCARD', leaf)
    else
      n = n + redis.call('ZCOUNT', leaf, lo, hi)
    end
    return false
  end)
  return n
end

-- Calls fn(leaf) for each leaf that may hold entries with scores in [min, max], from the highest down, until fn
-- returns true.
local function oi_walk_back(base, max, min, fn)
  local d = base .. ':d'
  local e
  if max >= OI_OFFSET then  -- (max + 1 + 2^52 would round: 2^53 + 1 is not a double)
    e = redis.call('ZRANGE', d, -1, -1)[1]
  else  -- the last leaf whose SEP is below (max + 1, ""): it holds the highest entry at or below max
    e = redis.call('ZREVRANGEBYLEX', d, '(' .. oi_key(max + 1, ''), '-', 'LIMIT', 0, 1)[1]
  end
  while e do
    -- a leaf whose SEP's score is below min: the leaves before it hold only entries below min
    if fn(base .. ':l:' .. string.match(e, '%z(%d+)$')) or oi_sep_score(e) < min then return end
    e = redis.call('ZREVRANGEBYLEX', d, '(' .. e, '-', 'LIMIT', 0, 1)[1]
  end
end

-- [member, score, member, score...] of the entries with scores in [min, max] from the offset-th, at most count
-- (count < 0: all): in order, or (rev) from the highest down — score descending, then member descending, as
-- ZRANGE ... REV reads.
local function oi_read(base, min, max, offset, count, rev)
  local out = {}
  local lo, hi = oi_bound(min), oi_bound(max)
  local function take(leaf)
    if offset > 0 then
      local n = redis.call('ZCOUNT', leaf, lo, hi)
      if n <= offset then
        offset = offset - n
        return false
      end
    end
    local want = count < 0 and -1 or count - #out / 2
    local got
    if rev then
      got = redis.call('ZREVRANGEBYSCORE', leaf, hi, lo, 'WITHSCORES', 'LIMIT', offset, want)
    else
      got = redis.call('ZRANGEBYSCORE', leaf, lo, hi, 'WITHSCORES', 'LIMIT', offset, want)
    end
    offset = 0
    for i = 1, #got do out[#out + 1] = got[i] end
    return count >= 0 and #out / 2 >= count
  end
  if rev then oi_walk_back(base, max, min, take) else oi_walk(base, min, max, take) end
  return out
end

local function oi_range(base, min, max, offset, count)
  return oi_read(base, min, max, offset, count, false)
end

local function oi_rev_range(base, max, min, offset, count)
  return oi_read(base, min, max, offset, count, true)
end

-- [member, ...] of the entries at score s whose members are within lo and hi (as ZRANGEBYLEX takes them: "[x",
-- "(x", "-", "+"), in order, from the offset-th, at most count (count < 0: all). For an index whose entries all
-- have one score (search terms), where member order is the index's order.
local function oi_lex_range(base, s, lo, hi, offset, count)
  local out = {}
  local from = (lo == '-') and oi_key(s, '') or oi_key(s, string.sub(lo, 2))
  local e = oi_find(base, from)
  if not e then return out end
  local d = base .. ':d'
  local stop = (hi ~= '+') and oi_key(s, string.sub(hi, 2)) or nil
  local open = string.sub(hi, 1, 1) == '('
  while e do
    local leaf = base .. ':l:' .. string.match(e, '%z(%d+)$')
    if offset > 0 then
      local n = redis.call('ZLEXCOUNT', leaf, lo, hi)
      if n <= offset then
        offset = offset - n
      else
        local got = redis.call('ZRANGEBYLEX', leaf, lo, hi, 'LIMIT', offset, count < 0 and -1 or count)
        offset = 0
        for i = 1, #got do out[#out + 1] = got[i] end
      end
    else
      local got = redis.call('ZRANGEBYLEX', leaf, lo, hi, 'LIMIT', 0, count < 0 and -1 or count - #out)
      for i = 1, #got do out[#out + 1] = got[i] end
    end
    if count >= 0 and #out >= count then return out end
    e = redis.call('ZRANGEBYLEX', d, '(' .. e, '+', 'LIMIT', 0, 1)[1]
    if not e then return out end
    -- the next leaf's SEP past hi: it and every leaf after it hold nothing wanted
    local sep = string.match(e, '^(.*)%z%d+$')
    if stop and (oi_before(stop, sep) or (open and sep == stop)) then return out end
  end
  return out
end
