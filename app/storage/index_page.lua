-- A page of one bucketed index and its count, in one call (app/storage/queries.py: ContactQuery._ranged on a
-- single Redis; a cluster, whose buckets are in different slots, reads the same in two pipelined round
-- trips).
--
-- Read only. It replaces a ZCOUNT per bucket and range, then a ZRANGE per bucket whose 16 x (offset + limit)
-- entries Python parsed and merged, by the merge here: the reply is the page alone, and the buckets are read
-- a few entries at a time as the merge needs them (~offset + limit entries in all, not that many from each).
--
-- KEYS: the index's buckets (sorted sets). ARGV: offset, limit, then each score range as max, min (as
-- ZRANGE ... BYSCORE REV takes them), highest range first.
-- Order: the ranges one after the other; within one, score descending, then member descending by its bytes
-- (as ZRANGE ... REV orders one key, and as Python orders str ids).
-- Returns {count over every range, {member, score, member, score, ...}} (scores as Redis writes them).
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])

-- whether member a comes after member b byte by byte (Lua's < on strings follows the server's locale)
local function after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

-- a score as text to a number (Lua 5.1's tonumber does not read Redis's "inf")
local function number(text)
  local value = tonumber(text)
  if value ~= nil then return value end
  if text == '-inf' then return -math.huge end
  return math.huge
end

local counts, total = {}, 0
for r = 3, #ARGV - 1, 2 do
  local n = 0
  for _, key in ipairs(KEYS) do
    n = n + redis.call('ZCOUNT', key, ARGV[r + 1], ARGV[r])
  end
  counts[#counts + 1] = n
  total = total + n
end

local out = {}
local need = limit
for i, count in ipairs(counts) do
  if need <= 0 then break end
  if offset >= count then
    offset = offset - count
  else
    local high, low = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
    local want = offset + need  -- the page lies within every bucket's first offset + need of the range
    -- each bucket read a chunk at a time, from where its last chunk ended, as the merge reaches its end: the
    -- page needs ~want entries in all, not want from every bucket
    local chunk = math.max(4, math.ceil(want / #KEYS) + 2)
    local runs, at, read, head, more = {}, {}, {}, {}, {}
    local function fill(k)
      local asked = math.min(chunk, want - read[k])
      local run = redis.call('ZRANGE', KEYS[k], high, low, 'BYSCORE', 'REV', 'LIMIT', read[k], asked,
                             'WITHSCORES')
      runs[k], at[k] = run, 1
      read[k] = read[k] + #run / 2
      more[k] = #run / 2 == asked and read[k] < want
      if run[2] ~= nil then head[k] = number(run[2]) else head[k] = nil end
    end
    for k = 1, #KEYS do
      read[k] = 0
      fill(k)
    end
    local taken = 0
    while taken < want do  -- merge: the highest head of the buckets' runs, each already in order
      local best
      for k = 1, #KEYS do
        local score = head[k]
        if score ~= nil and (best == nil or score > head[best]
            or (score == head[best] and after(runs[k][at[k]], runs[best][at[best]]))) then
          best = k
        end
      end
      if best == nil then break end
      taken = taken + 1
      local run, j = runs[best], at[best]
      if taken > offset then
        out[#out + 1] = run[j]
        out[#out + 1] = run[j + 1]
      end
      at[best] = j + 2
      if run[j + 3] ~= nil then
        head[best] = number(run[j + 3])
      elseif more[best] then
        fill(best)
      else
        head[best] = nil
      end
    end
    need = need - math.max(0, taken - offset)
    offset = 0
  end
end
return {total, out}
