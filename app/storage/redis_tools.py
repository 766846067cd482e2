"""What every gateway shares: JSON encoding, Lua script loading and pipelined calls, GET of many
keys, JSON documents kept by id in one hash, and the sharding of contacts into partitions and
buckets."""
from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from redis.exceptions import ConnectionError as ConnectionError_, NoScriptError, TimeoutError as TimeoutError_


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def load_script(redis: Any, name: str) -> Any:
    """A Lua script of this package (``name.lua``, beside the gateway that runs it), registered."""
    return redis.register_script(resources.files(__package__).joinpath(name).read_text())


def get_many(redis: Any, keys: Sequence[str]) -> list[Any]:
    """GET of many keys in one round trip; unlike MGET, fine across Redis Cluster slots."""
    if not keys:
        return []
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return pipe.execute()


def call_script(redis: Any, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """One call of a registered script on a single Redis, sent on a connection of the client's pool.

    The same ``EVALSHA`` and the same reply as ``script(keys=..., args=...)``, without the client's bookkeeping
    around each command (its retry wrapper, observability records, argument checks), which costs more CPU than
    the rest of a webhook's call (the hot path of ``PartitionQueue.accept``). Anything unusual takes the client's
    own path, as if the first attempt had failed: a connection or timeout error (the client reconnects and
    retries as it always does), a script the server does not know (the client loads it), a client that is not
    one Redis with a pool of its own connections (a cluster, a client pinned to one connection).
    """
    pool = getattr(redis, "connection_pool", None)
    if pool is None or getattr(redis, "connection", None) is not None or hasattr(redis, "get_node_from_key"):
        return script(keys=keys, args=args)
    connection = pool.get_connection()
    try:
        connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return connection.read_response()
    except NoScriptError:
        return script(keys=keys, args=args)
    except (ConnectionError_, TimeoutError_):
        connection.disconnect()
        return script(keys=keys, args=args)
    finally:
        pool.release(connection)


def run_scripts(redis: Any, script: Any, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
    """Many calls of one Lua script, pipelined; on a Redis Cluster, one pipeline per node
    (redis-py's cluster pipeline refuses scripts). Each call's keys share one slot."""
    if not calls:
        return []
    if len(calls) == 1:  # one EVALSHA: a pipeline would first send SCRIPT EXISTS, a second round trip
        keys, args = calls[0]
        return [script(keys=keys, args=args)]
    if not hasattr(redis, "get_node_from_key"):
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
        for cid in contact_ids:
            out.setdefault(self.bucket_of(cid), []).append(cid)
        return out
