"""The storage layer's exceptions: what callers see instead of the Redis client's.

Every public method of a gateway is wrapped by ``@gateway``: a Redis error leaves it as
``StoreUnavailable`` (the store did not answer: down, restarting, loading its data) or
``StoreError`` (it refused a command), chained with ``from``. ``errors_http`` maps both,
once, to HTTP (503 with ``Retry-After``, or 500).
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis

from ..errors import ScorekeeperError

#: Client errors that mean "no answer now, try again later".
_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.BusyLoadingError)

T = TypeVar("T")


class StoreError(ScorekeeperError):
    """The store refused a command: a bug or a misconfiguration, not an outage (500)."""

    status = 500


class StoreUnavailable(StoreError):
    """The store did not answer: the client should retry (503 with Retry-After)."""

    status = 503


def translated(error: redis.RedisError) -> StoreError:
    """The storage exception standing for a Redis client error."""
    if isinstance(error, _UNAVAILABLE):
        return StoreUnavailable("The store is unavailable; retry later.", {"store": type(error).__name__})
    return StoreError(f"The store refused a command: {type(error).__name__}.")


@contextmanager
def store_errors() -> Iterator[None]:
    """Translate Redis errors raised inside the block (for code that drives a Redis client it does
    not own, such as RQ's worker loop)."""
    try:
        yield
    except redis.RedisError as error:
        raise translated(error) from error


def _guard(function: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(function):
        @functools.wraps(function)
        def generator(*args: Any, **kwargs: Any) -> Any:
            with store_errors():
                yield from function(*args, **kwargs)
        return generator

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except redis.RedisError as error:
            raise translated(error) from error
    return call


def gateway(cls: type[T]) -> type[T]:
    """Class decorator: every public method raises the storage layer's exceptions, never Redis's."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _guard(member))
    return cls


class InconsistentRead(Exception):
    """A contact kept changing while it was read (between the commands of a pipeline): it could not be read
    consistently."""
