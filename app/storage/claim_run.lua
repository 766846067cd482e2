-- Claim a workflow run for one firing, atomically, in the contact's slot.
-- KEYS[1] run claim key ({c:ID}:wf-run:RUN), KEYS[2] workflows the contact entered ({c:ID}:wf-entered)
-- ARGV[1] workflow id, ARGV[2] "1" when the workflow allows reentry, ARGV[3] run id
-- Guarantees: a run id is claimed once however often its change is replayed (returns 0 after
-- the first time), and without reentry a contact enters a workflow once ever (returns -1).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if ARGV[2] ~= '1' and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return -1
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
