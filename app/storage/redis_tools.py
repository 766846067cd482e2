"""What every gateway shares: JSON encoding, Lua script loading and pipelined calls, replies read later, GET of many
keys, JSON documents kept by id in one hash, and the sharding of contacts into partitions and
buckets."""
from __future__ import annotations

import functools
import logging
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from redis import exceptions as redis_errors
from redis.exceptions import ConnectionError as ConnectionError_, NoScriptError, TimeoutError as TimeoutError_

from .errors import store_errors, translated

try:  # redis-py's own parser and packer when it is installed (pyproject: redis[hiredis])
    from hiredis import pack_command as _hiredis_pack_command
except ImportError:  # pragma: no cover - redis-py's pure-Python packer then
    _hiredis_pack_command = None  # type: ignore[assignment]
_hiredis_pack: Any = _hiredis_pack_command

log = logging.getLogger(__name__)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def load_script(redis: Any, name: str, *libraries: str) -> Any:
    """A Lua script of this package (``name.lua``, beside the gateway that runs it), registered, with the
    ``libraries`` of this package before it (``record_fields.lua``)."""
    return registered_script(redis, (*libraries, name))


def registered_script(redis: Any, names: tuple[str, ...]) -> Any:
    """The scripts of this package ``names``, one after the other, registered with ``redis`` once per client:
    gateways made per request (``ContactQuery``, a smart-list page's) register theirs each time, and registering
    encodes the text and hashes it (SHA-1) — for index_page.lua with its libraries (~70 kB) ~20 % of a page's
    client instructions (docs/performance.md, "Row 6 (2026-12-06, fourth session)"). Kept on the client itself,
    as ``_kept`` keeps connections on the pool: a client's scripts go with it."""
    scripts = redis.__dict__.get("_scorekeeper_scripts")
    if scripts is None:
        scripts = redis._scorekeeper_scripts = {}
    script = scripts.get(names)
    if script is None:
        script = scripts[names] = redis.register_script("\n".join(_script_text(n) for n in names))
    return script


@functools.cache
def _script_text(name: str) -> str:
    """A script's text, read once per process: gateways made per request (``ContactQuery``) register theirs
    each time, and reading the file through ``importlib.resources`` took ~0.2 ms."""
    return resources.files(__package__).joinpath(name).read_text()


def get_many(redis: Any, keys: Sequence[str]) -> list[Any]:
    """GET of many keys in one round trip; unlike MGET, fine across Redis Cluster slots."""
    if not keys:
        return []
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return pipe.execute()


def on_cluster(redis: Any) -> bool:
    """Whether a client is a Redis Cluster's (its keys live on several nodes: a script or a pipeline
    reaches one slot)."""
    return hasattr(redis, "get_node_from_key")


#: ``Later.send``'s ``parse`` for a command whose reply is read as Redis sent it (no redis-py callback).
RAW: Any = None

#: Connections ``call_script`` keeps between its calls, at most, per pool (one a thread calling at once).
KEPT_MAX = 32


def call_script(redis: Any, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """One call of a registered script on a single Redis, on a connection of the client's pool.

    The same ``EVALSHA`` and the same reply as ``script(keys=..., args=...)``, without the client's bookkeeping
    around each command (its retry wrapper, observability records, argument checks: packed by ``_pack``), which
    costs more CPU than
    the rest of a webhook's call (the hot path of ``PartitionQueue.accept``). The connection is kept for the next
    call (``_kept``: shared by the process's threads, not held by one, so a thread that ends holds none) once
    its reply was read in full, instead of going back through the pool's bookkeeping and its readiness poll each
    time. Anything unusual takes the client's own path, as if the first attempt had failed: a connection or
    timeout error (the connection is dropped; the client reconnects and retries as it always does), a script the
    server does not know (the client loads it), a client that is not one Redis with a pool of its own plain
    connections (a cluster, a client pinned to one connection, a pool speaking RESP3, whose client-side cache
    and maintenance notifications need its pool to see each connection between commands).
    """
    return _call_kept(redis, ("EVALSHA", script.sha, len(keys), *keys, *args), lambda: script(keys=keys, args=args))


def call_command(redis: Any, *args: Any) -> Any:
    """One command (its name first) as ``redis.execute_command(*args)`` sends it, packed and sent as ``call_script``
    sends a script's call (hiredis's packer, a kept connection), its reply as Redis sent it (no redis-py callback).
    For a command of many arguments: redis-py's packer looks at each in Python (the archiver's ``XDEL`` of a
    batch's entry ids, ~0.5 us an id)."""
    return _call_kept(redis, args, lambda: redis.execute_command(*args))


def _call_kept(redis: Any, command: tuple[Any, ...], fallback: Callable[[], Any]) -> Any:
    """``command`` on a kept connection of the client's pool (``call_script``); ``fallback``, the client's own path,
    where that does not apply or the first attempt failed."""
    pool = getattr(redis, "connection_pool", None)
    if pool is None or getattr(redis, "connection", None) is not None or on_cluster(redis):
        return fallback()
    kept = _kept(pool)
    if kept is None:
        connection = pool.get_connection()
        try:
            connection.send_packed_command(_pack(connection, [command]))
            return connection.read_response()
        except NoScriptError:
            return fallback()
        except (ConnectionError_, TimeoutError_):
            connection.disconnect()
            return fallback()
        finally:
            pool.release(connection)
    try:
        connection = kept.pop()
    except IndexError:
        connection = pool.get_connection()
    try:
        connection.send_packed_command(_pack(connection, [command]))
        reply = connection.read_response()
    except redis_errors.ResponseError as error:  # the reply was read in full: the connection is ready again
        _keep(pool, kept, connection)
        if isinstance(error, NoScriptError):
            return fallback()
        raise
    except (ConnectionError_, TimeoutError_):
        connection.disconnect()
        pool.release(connection)
        return fallback()
    except BaseException:  # anything else (a worker's timeout, say) may leave a reply unread: not kept
        connection.disconnect()
        pool.release(connection)
        raise
    _keep(pool, kept, connection)
    return reply


def _kept(pool: Any) -> list[Any] | None:
    """The connections ``call_script`` keeps taken from ``pool``, for this process (a forked child starts with
    none: its parent's sockets are not its own); None when the pool's connections must go back to it after each
    command: RESP3, where a client-side cache or maintenance notifications may be pushed on any connection."""
    if str(getattr(pool, "connection_kwargs", {}).get("protocol") or 2) != "2" or getattr(pool, "cache", None):
        return None
    pid = os.getpid()
    found = pool.__dict__.get("_scorekeeper_kept")
    if found is None or found[0] != pid:
        found = pool._scorekeeper_kept = (pid, [])
    return found[1]


def _keep(pool: Any, kept: list[Any], connection: Any) -> None:
    if len(kept) < KEPT_MAX and not connection.should_reconnect():
        kept.append(connection)
    else:
        pool.release(connection)


def run_scripts(redis: Any, script: Any, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
    """Many calls of one Lua script, pipelined; on a Redis Cluster, one pipeline per node
    (redis-py's cluster pipeline refuses scripts). Each call's keys share one slot."""
    if not calls:
        return []
    if len(calls) == 1:  # one EVALSHA: a pipeline would first send SCRIPT EXISTS, a second round trip
        keys, args = calls[0]
        return [script(keys=keys, args=args)]
    if not on_cluster(redis):
        pipe = redis.pipeline(transaction=False)
        for keys, args in calls:
            script(keys=keys, args=args, client=pipe)
        return pipe.execute()
    by_node: dict[str, list[int]] = {}
    nodes: dict[str, Any] = {}
    for i, (keys, _args) in enumerate(calls):
        node = redis.get_node_from_key(keys[0])
        nodes[node.name] = node
        by_node.setdefault(node.name, []).append(i)
    results: list[Any] = [None] * len(calls)
    for name, indexes in by_node.items():
        pipe = nodes[name].redis_connection.pipeline(transaction=False)
        for i in indexes:
            script(keys=calls[i][0], args=calls[i][1], client=pipe)
        for i, value in zip(indexes, pipe.execute()):
            results[i] = value
    return results


class Later:
    """Commands sent now on a connection of their own whose replies are read later, in the order they were sent:
    the caller works (a scoring batch computes its next chunk of writes) while Redis runs them, instead of waiting
    for each reply in turn (docs/performance.md, "Overlapping a drain's Redis waits").

    ``send`` returns a ``Reply``; ``Reply.result()`` reads every reply up to its own (keeping the others for their
    own ``Reply``) and gives it, or raises its error as the storage layer's (``StoreUnavailable``/``StoreError``).
    Redis runs one connection's commands in the order they arrive, so a command sent after another sees its
    writes. A broken connection fails every reply still unread. ``close`` reads what is left (a reply no one asked
    for is dropped; its error logged) and gives the connection back. On a Redis Cluster nothing is deferred: each
    ``send`` runs its calls at once (``run_scripts``: one pipeline per node) and its ``Reply`` holds the result.
    One thread at a time."""

    def __init__(self, redis: Any):
        self.redis = redis
        #: A plain Redis (not a cluster, whose keys live on several nodes): replies are deferred.
        self.deferred = not on_cluster(redis)
        self._connection: Any = None
        self._sent = 0  # replies sent so far (each a group of commands)
        self._read = 0  # replies read so far
        self._unread: deque[tuple[int, list[tuple[str, dict[str, Any]]]]] = deque()
        self._kept: dict[int, Any] = {}
        self._broken: BaseException | None = None
        self._loaded: set[str] = set()  # scripts loaded through this connection

    def __enter__(self) -> Later:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, commands: Sequence[tuple[Any, ...]], parse: dict[str, Any] | None = None) -> Reply:
        """Send these commands (each a tuple of its arguments, the command's name first) in one write; their
        replies, a list in the same order, come from the ``Reply``. ``parse``: redis-py options for the
        reply callbacks (per command name); ``RAW`` for a command whose reply is given as Redis sent it, without
        redis-py's callback (a drain's ``XRANGE``: no dict made per entry)."""
        if not self.deferred:
            raise RuntimeError("a cluster client runs each call at once: use send_scripts")
        number = self._sent
        self._sent += 1
        if self._broken is not None:
            self._kept[number] = self._broken
            return Reply(self, number)
        try:
            if self._connection is None:
                self._connection = self.redis.connection_pool.get_connection()
            # the health check (a PING after an idle while) would read a reply still waiting as its own
            self._connection.send_packed_command(_pack(self._connection, commands), check_health=not self._unread)
        except redis_errors.RedisError as error:
            self._fail(error)
            self._kept[number] = self._broken
            return Reply(self, number)
        self._unread.append((number, [(str(c[0]), (parse or {}).get(str(c[0]), {})) for c in commands]))
        return Reply(self, number)

    def send_scripts(self, script: Any, calls: Sequence[tuple[list[str], list[Any]]]) -> Reply:
        """Calls of one Lua script (as ``run_scripts`` takes them), their replies a list. A script Redis does not
        hold yet is loaded and run again when its reply is read."""
        if not calls:
            return Done([])
        if not self.deferred:
            return Done(run_scripts(self.redis, script, calls))
        commands = [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]
        if script.sha not in self._loaded:  # once per Later: a script Redis lost would run after the commands sent
            self._loaded.add(script.sha)    # behind it (its replies first tell), out of order
            commands.insert(0, ("SCRIPT", "LOAD", script.script))
            return ScriptReply(self.send(commands), script, calls, skip=1)
        return ScriptReply(self.send(commands), script, calls)

    def result(self, number: int) -> Any:
        while number not in self._kept:
            self._read_one()
        value = self._kept.pop(number)
        if isinstance(value, BaseException):
            raise value
        return value

    def _read_one(self) -> None:
        number, commands = self._unread.popleft()
        replies: list[Any] = []
        try:
            for name, options in commands:
                try:
                    if options is RAW:
                        replies.append(self._connection.read_response())
                    else:
                        replies.append(self.redis.parse_response(self._connection, name, **options))
                except redis_errors.ResponseError as error:  # the connection is fine: the next replies follow
                    replies.append(error)
        except redis_errors.RedisError as error:
            self._fail(error)
            self._kept[number] = self._broken
            return
        self._kept[number] = replies

    def _fail(self, error: redis_errors.RedisError) -> None:
        """The connection broke: it is dropped, and every reply not read yet fails with its error."""
        self._broken = translated(error)
        self._broken.__cause__ = error
        if self._connection is not None:
            self._connection.disconnect()
        while self._unread:
            self._kept[self._unread.popleft()[0]] = self._broken

    def close(self) -> None:
        """Read every reply still waiting and give the connection back (dropped when broken)."""
        while self._unread:
            self._read_one()
        for value in self._kept.values():
            if isinstance(value, BaseException) or any(isinstance(x, BaseException) for x in value):
                log.warning("an unread deferred reply failed", extra={"error": repr(value)})
        self._kept.clear()
        if self._connection is not None:
            self.redis.connection_pool.release(self._connection)
            self._connection = None


def _pack(connection: Any, commands: Sequence[tuple[Any, ...]]) -> Any:
    """The commands in Redis's protocol, as ``connection.pack_commands`` makes them: straight through hiredis's
    packer when the connection encodes as UTF-8 (the same bytes, half the CPU: redis-py's own wrapper looks at
    every argument in Python first, ~580,000 of them in a drain of 40,000 interactions), else redis-py's."""
    encoder = connection.encoder
    if _hiredis_pack is None or encoder.encoding != "utf-8" or encoder.encoding_errors != "strict":
        return connection.pack_commands(commands)
    try:
        return [b"".join([_hiredis_pack(command) for command in commands])]
    except TypeError as error:  # an argument that is not str, bytes, int or float: redis-py's error for it
        raise redis_errors.DataError(str(error)) from error


class Reply:
    """The replies of one ``Later.send``."""

    def __init__(self, later: Later, number: int):
        self._later = later
        self._number = number

    def replies(self) -> list[Any]:
        """Each command's reply, an error reply as redis-py's exception (not raised)."""
        return self._later.result(self._number)

    def result(self) -> Any:
        """Each command's reply; the first error reply raised as the storage layer's error."""
        replies = self.replies()
        for r in replies:
            if isinstance(r, redis_errors.RedisError):
                raise translated(r) from r
        return replies


class Done(Reply):
    """A reply already there (on a cluster, or for nothing sent)."""

    def __init__(self, value: Any):
        self._value = value

    def replies(self) -> Any:
        return self._value

    def result(self) -> Any:
        return self._value


class ScriptReply(Reply):
    """Replies of deferred script calls: an error reply raised as the storage layer's error; a script Redis did
    not hold (restarted, flushed) loaded and the calls run again, at once."""

    def __init__(self, reply: Reply, script: Any, calls: Sequence[tuple[list[str], list[Any]]], skip: int = 0):
        self._reply = reply
        self._script = script
        self._calls = calls
        self._skip = skip  # the SCRIPT LOAD sent before the calls

    def result(self) -> Any:
        replies = self._reply.replies()[self._skip:]
        if any(isinstance(r, redis_errors.NoScriptError) for r in replies):
            with store_errors():
                self._script.sha = self._script.registered_client.script_load(self._script.script)
                replies = [r if not isinstance(r, redis_errors.NoScriptError) else self._script(keys=keys, args=args)
                           for r, (keys, args) in zip(replies, self._calls)]
        for r in replies:
            if isinstance(r, redis_errors.RedisError):
                raise translated(r) from r
        return replies


class RecordedWrites:
    """Stands in for a pipeline to record single-key writes instead of sending them, so a Lua script can run
    them later, inside its own atomic call (``ingest_one_trip.lua``). Each write is ``(command, key, args)``,
    with arguments as redis-py would send them; only the commands used to link a new contact are known."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, list[Any]]] = []

    def hsetnx(self, key: str, field: str, value: Any) -> None:
        self.writes.append(("HSETNX", key, [field, value]))

    def zadd(self, key: str, mapping: dict[str, Any], nx: bool = False) -> None:
        args: list[Any] = ["NX"] if nx else []
        for member, score in mapping.items():
            args += [score, member]
        self.writes.append(("ZADD", key, args))

    def sadd(self, key: str, *members: Any) -> None:
        self.writes.append(("SADD", key, list(members)))

    def set(self, key: str, value: Any) -> None:
        self.writes.append(("SET", key, [value]))


class DocumentHash:
    """JSON documents by id in one Redis hash: profiles, workflows, smart lists, disabled endpoints."""

    def __init__(self, redis: Any, key: str):
        self.redis = redis
        self.key = key

    def all(self) -> dict[str, Any]:
        return {id_: loads(doc) for id_, doc in self.redis.hgetall(self.key).items()}

    def get(self, id_: str) -> Any | None:
        raw = self.redis.hget(self.key, id_)
        return loads(raw) if raw else None

    def put(self, id_: str, doc: Any, pipe: Any = None) -> None:
        """Write one document (into ``pipe`` when given, so it joins a transaction)."""
        (pipe or self.redis).hset(self.key, id_, dumps(doc))

    def delete(self, id_: str, pipe: Any = None) -> bool:
        """Remove one document; True if it existed (None-ish inside a pipeline)."""
        return bool((pipe or self.redis).hdel(self.key, id_))


@dataclass(frozen=True)
class Sharding:
    """Where a contact lives: its ingest partition and its bucket in every global index."""

    partitions: int
    buckets: int

    def partition_of(self, contact_id: str) -> int:
        return zlib.crc32(contact_id.encode()) % self.partitions

    def bucket_of(self, contact_id: str) -> int:
        return zlib.adler32(contact_id.encode()) % self.buckets

    def by_bucket(self, contact_ids: Iterable[str]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        buckets, adler32 = self.buckets, zlib.adler32
        for cid in contact_ids:  # (``bucket_of`` inline: a drain asks it of every contact scored, three times)
            bucket = adler32(cid.encode()) % buckets
            ids = out.get(bucket)
            if ids is None:
                out[bucket] = [cid]
            else:
                ids.append(cid)
        return out
