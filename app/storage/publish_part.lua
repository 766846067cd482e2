-- A publish part's progress, in the publish job's status hash (KEYS[1]); one key, so one slot on a cluster.
-- ARGV[1] = "advance": ARGV[2] part, ARGV[3] the position the caller read, ARGV[4] the new position, ARGV[5] now
--   (ms; absent from an earlier release's callers), kept as "moved_at" for the publish watchdog.
--   Moves the part's position (field "part:N") and adds the difference to "done" (and "progress" =
--   done / total) only if the position is still the one read: a part run twice (a retry after a worker
--   died) never counts a contact twice. Returns done, or -1 when the position had moved.
-- ARGV[1] = "finish": ARGV[2] part, ARGV[3] now (ms, "moved_at"; optional). Marks the part finished ("finished:N") once; the part whose mark leaves
--   no part unfinished ("parts_left" reaches 0) is named "finisher". Returns the finisher's part, or -1.
-- ARGV[1] = "try": ARGV[2] a run's name (a part's number, or "publish": the publish job), ARGV[3] the position it
--   starts at. Counts the runs of that name started at that position ("tries:NAME"; the position in "tried:NAME"):
--   a run starting elsewhere (a page was done since) counts from 1 again. In one step, so two runs of a part
--   started together (queued twice) count twice. Returns the count.
local job = KEYS[1]
if ARGV[1] == "try" then
  local count, at = "tries:" .. ARGV[2], "tried:" .. ARGV[2]
  if redis.call("HGET", job, at) ~= ARGV[3] then
    redis.call("HSET", job, at, ARGV[3], count, 1)
    return 1
  end
  return redis.call("HINCRBY", job, count, 1)
end
if ARGV[1] == "advance" then
  local field = "part:" .. ARGV[2]
  local current = tonumber(redis.call("HGET", job, field) or "0")
  if current ~= tonumber(ARGV[3]) then
    return -1
  end
  local new = tonumber(ARGV[4])
  redis.call("HSET", job, field, new)
  local done = redis.call("HINCRBY", job, "done", new - current)
  local total = tonumber(redis.call("HGET", job, "total") or "0")
  local progress = 1
  if total > 0 then
    progress = math.min(done / total, 1)
  end
  redis.call("HSET", job, "progress", string.format("%.4f", progress))
  if ARGV[5] then
    redis.call("HSET", job, "moved_at", ARGV[5])
  end
  return done
end
if ARGV[3] then
  redis.call("HSET", job, "moved_at", ARGV[3])
end
if redis.call("HSETNX", job, "finished:" .. ARGV[2], "1") == 1 then
  if redis.call("HINCRBY", job, "parts_left", -1) == 0 then
    redis.call("HSET", job, "finisher", ARGV[2])
  end
end
return tonumber(redis.call("HGET", job, "finisher") or "-1")
