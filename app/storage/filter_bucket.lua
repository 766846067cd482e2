-- One bucket's answer to a contact filter, computed inside Redis (app/storage/queries.py builds the plan).
--
-- KEYS: the indexes the plan names (by position), then scratch keys (KEYS[plan.scratch] onwards) for the
-- intermediate sets; every scratch key is deleted before the script returns (and expires after a minute
-- should a command fail half way).
-- ARGV[1]: the plan, JSON:
--   inc      sources every match is in: {key = i, ranges = {{min, max}, ...} | nil (the whole key)}
--   exc      sources no match is in (same shape)
--   universe the contact registry (the start when there is no inc)
--   order    the sorted set whose score orders the matches (the sort profile's score index, else the registry)
--   n        rows wanted (0: only count)
-- Returns {ordered count, unordered count, ordered rows (member, score, ...), unordered members}: the
-- matches that have a score in `order` (highest first, then member descending) and those that do not
-- (member descending), each its first n.
local plan = cjson.decode(ARGV[1])
local next_scratch = plan.scratch
local made = {}

local function scratch()
  local key = KEYS[next_scratch]
  next_scratch = next_scratch + 1
  made[#made + 1] = key
  return key
end

local function stored(key)
  redis.call('PEXPIRE', key, 60000)
  return key
end

local function call_with(head, keys, tail)
  local args = {}
  for _, v in ipairs(head) do args[#args + 1] = v end
  for _, v in ipairs(keys) do args[#args + 1] = v end
  for _, v in ipairs(tail or {}) do args[#args + 1] = v end
  return redis.call(unpack(args))
end

-- the key holding exactly the members of a source (a range of a sorted set: copied into a scratch key)
local function materialize(source)
  local key = KEYS[source.key]
  if source.ranges == nil then return key end
  local parts = {}
  for _, range in ipairs(source.ranges) do
    local part = scratch()
    redis.call('ZRANGESTORE', part, key, range[1], range[2], 'BYSCORE')
    parts[#parts + 1] = stored(part)
  end
  if #parts == 1 then return parts[1] end
  local union = scratch()
  call_with({'ZUNIONSTORE', union, #parts}, parts)
  return stored(union)
end

local result = scratch()
if #plan.inc > 0 then
  local keys, weights = {}, {'WEIGHTS'}
  for _, source in ipairs(plan.inc) do
    keys[#keys + 1] = materialize(source)
    weights[#weights + 1] = 0
  end
  call_with({'ZINTERSTORE', result, #keys}, keys, weights)
else
  redis.call('ZUNIONSTORE', result, 1, KEYS[plan.universe], 'WEIGHTS', 0)
end
stored(result)
if #plan.exc > 0 and redis.call('EXISTS', result) == 1 then
  local keys = {result}
  for _, source in ipairs(plan.exc) do keys[#keys + 1] = materialize(source) end
  call_with({'ZDIFFSTORE', result, #keys}, keys)
  stored(result)
end

local reply
if plan.n == 0 then
  reply = {redis.call('ZCARD', result), 0, {}, {}}
else
  local order = KEYS[plan.order]
  local ordered, unordered = scratch(), scratch()
  redis.call('ZINTERSTORE', ordered, 2, result, order, 'WEIGHTS', 0, 1)
  redis.call('ZDIFFSTORE', unordered, 2, result, order)
  local with, without = redis.call('ZCARD', ordered), redis.call('ZCARD', unordered)
  local rows, rest = {}, {}
  if with > 0 then rows = redis.call('ZRANGE', ordered, 0, plan.n - 1, 'REV', 'WITHSCORES') end
  if without > 0 and with < plan.n then
    rest = redis.call('ZRANGE', unordered, 0, plan.n - with - 1, 'REV')  -- all at score 0: member descending
  end
  reply = {with, without, rows, rest}
end
redis.call('DEL', unpack(made))
return reply
