"""The things every part needs — settings, Redis clients, the store, the queue — built once.

The app factory builds them and keeps them in ``app.extensions``; workers and the CLI
build the app too, so a job gets exactly what a request gets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from rq import Queue

from .keys import Keys
from .storage.connection import connect, queue_connection
from .storage.store import Store


@dataclass
class Services:
    settings: dict[str, Any]
    keys: Keys
    store: Store
    queue: Queue

    @property
    def redis(self) -> Any:
        return self.store.redis


def build_services(settings: dict[str, Any]) -> Services:
    keys = Keys(settings["KEY_PREFIX"])
    store_url = settings.get("STORE_URL") or settings["REDIS_URL"]
    store = Store(connect(store_url), keys, settings)
    queue = Queue(settings["QUEUE"], connection=queue_connection(settings["REDIS_URL"]))
    return Services(settings=settings, keys=keys, store=store, queue=queue)


def init_app(app: Flask) -> Services:
    services = build_services(app.config)
    app.extensions["scorekeeper"] = services
    return services


def get_services() -> Services:
    """The services of the current app (request, CLI command or job)."""
    return current_app.extensions["scorekeeper"]
