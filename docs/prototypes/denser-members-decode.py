"""What decoding an ordered base-64 contact id (14 chars) back to `c` + 20 hex digits costs inside a Lua script, beside
what filter_bucket.lua does per member today (docs/performance.md, "Row 5a (2026-12-05 evening): denser index
members, measured, not built"). `python docs/prototypes/denser-members-decode.py` starts its own redis-server."""
import secrets
import subprocess
import tempfile
import time

import redis

ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"  # in ASCII order: order kept
assert list(ALPHABET) == sorted(ALPHABET)


def encode(contact_id: str) -> str:
    n, out = int(contact_id[1:], 16), ""
    for _ in range(14):
        out, n = ALPHABET[n & 63] + out, n >> 6
    return out


PREAMBLE = {
    # 64- and 16-entry tables per call, two characters (12 bits) at a time
    "by char": """local A = '%s'
local V = {}
for i = 1, 64 do V[string.byte(A, i)] = i - 1 end
local H = {}
for i = 0, 15 do H[i] = string.format('%%x', i) end
local floor, byte = math.floor, string.byte
local function dec(m)
  local out = {'c'}
  local b = {byte(m, 1, 14)}
  for k = 1, 13, 2 do  -- two characters: 12 bits, three hex digits (the first pair's first digit is 0: dropped)
    local v = V[b[k]] * 64 + V[b[k + 1]]
    if k > 1 then out[#out + 1] = H[floor(v / 256)] end
    out[#out + 1] = H[floor(v / 16) %% 16]
    out[#out + 1] = H[v %% 16]
  end
  return table.concat(out)
end""" % ALPHABET,
    # a 4,096-entry table of character pairs, built by every call (Redis 7 keeps nothing between script calls)
    "by pair": """local A = '%s'
local P = {}
for i = 0, 63 do for j = 0, 63 do
  P[string.sub(A, i + 1, i + 1) .. string.sub(A, j + 1, j + 1)] = string.format('%%03x', i * 64 + j)
end end
local sub = string.sub
local function dec(m)
  return 'c' .. sub(P[sub(m, 1, 2)], 2) .. P[sub(m, 3, 4)] .. P[sub(m, 5, 6)] .. P[sub(m, 7, 8)] .. P[sub(m, 9, 10)]
    .. P[sub(m, 11, 12)] .. P[sub(m, 13, 14)]
end""" % ALPHABET,
}
LOOP = """
local n, mode, m, acc = tonumber(ARGV[1]), ARGV[2], ARGV[3], 0
for i = 1, n do
  local s
  if mode == 'dec' then s = 'sk:{c:' .. dec(m) .. '}'
  elseif mode == 'plain' then s = 'sk:{c:' .. m .. '}'
  elseif mode == 'zscore' then s = redis.call('ZSCORE', 'k', m) or ''
  else s = redis.call('HGET', 'h', 'la') or '' end
  acc = acc + #s
end
return {acc, mode == 'dec' and dec(m) or m}
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sock = f"{tmp}/redis.sock"
        server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", ""],
                                  stdout=subprocess.DEVNULL)
        try:
            r = redis.Redis(unix_socket_path=sock, decode_responses=True)
            while True:
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            ids = ["c" + secrets.token_hex(10) for _ in range(100)]
            r.zadd("k", {c: 1796505693375 + i for i, c in enumerate(ids)})
            r.hset("h", mapping={"la": "1796505693375", "_rev": "3"})
            for name, preamble in PREAMBLE.items():
                src = preamble + LOOP
                assert r.eval(src, 0, 1, "dec", encode(ids[7]))[1] == ids[7]
                t = time.perf_counter()
                r.eval(src, 0, 1, "plain", ids[7])
                print(f"{name}: a call that decodes nothing {(time.perf_counter() - t) * 1e3:.2f} ms (the table)")
                for mode, member in (("plain", ids[7]), ("dec", encode(ids[7])), ("zscore", ids[50]), ("hget", "")):
                    t = time.perf_counter()
                    r.eval(src, 0, 200_000, mode, member)
                    print(f"  {mode:7} {(time.perf_counter() - t) / 200_000 * 1e9:5.0f} ns a member")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
