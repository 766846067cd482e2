-- A worker's take of the next job from several RQ queues, in their order: the first id waiting is moved to its
-- queue's intermediate list, as RQ's own take does (LMOVE) for a worker of one queue, and returned with the job's
-- hash, in one round trip.
-- KEYS: queue 1, its intermediate list, queue 2, its intermediate list, ...; ARGV[1] the job key prefix ('rq:job:')
-- (the job's key is known only from the id: the queues' Redis is one server, never a cluster).
-- Atomic: the id is in one of the two lists at every moment, so a worker that dies after the take leaves it in the
-- intermediate list, where RQ's clean-up finds it, instead of losing it (with two queues RQ pops it).
-- A job whose hash is gone (deleted meanwhile) leaves the intermediate list and the next id is taken, as RQ skips it.
-- Returns {queue key, job id, field, value, ...}, or false when every queue is empty.
for i = 1, #KEYS, 2 do
  while true do
    local id = redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'LEFT', 'RIGHT')
    if not id then
      break
    end
    local job = redis.call('HGETALL', ARGV[1] .. id)
    if #job > 0 then
      table.insert(job, 1, id)
      table.insert(job, 1, KEYS[i])
      return job
    end
    redis.call('LREM', KEYS[i + 1], -1, id)
  end
end
return false
