-- The ids of processes whose announcement lapsed, dropped from the set of live processes (storage/processes.py:
-- ProcessRegistry.live) — each only if its key is still gone when the script runs: a process that announced itself
-- again between the reader's look and this drop (one paused past its TTL, then renewed) stays listed. Atomic, so
-- no renewal falls between the check and the drop.
-- KEYS[1]: the set of ids; KEYS[1 + i]: the announcement key of ARGV[i].
local dropped = 0
for i, process_id in ipairs(ARGV) do
    if redis.call('EXISTS', KEYS[1 + i]) == 0 then
        dropped = dropped + redis.call('SREM', KEYS[1], process_id)
    end
end
return dropped
