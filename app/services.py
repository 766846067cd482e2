"""The things every part needs — settings, key names, the storage gateways, the ports — built once.

The app factory builds them and keeps them in ``app.extensions``; workers and the CLI
build the app too, so a job gets exactly what a request gets.

Workspaces (docs/teams.md): each workspace is a ``Services`` of its own whose ``Keys`` carry the prefix
``{KEY_PREFIX}:w:{ID}`` (workspace ``default`` keeps the plain ``KEY_PREFIX``, so an existing deployment
is workspace ``default`` with nothing moved). They share the Redis connections, the queue, the archive and
the clock, and are built once per workspace per process (``Tenancy``). Which one ``get_services()`` gives
is the *current workspace*, a context variable: set per request (the API key, ``X-Scorekeeper-Workspace``,
the ``/w/ID/hooks`` URL, the dashboard session) and per job (the job's meta, see app/jobs.py).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from rq import Queue

from .archive import Archive, open_archive
from .clock import Clock, SystemClock
from .keys import Keys
from .settings import setting
from .ports import EventSink, JobPort, NoListener, ScoreChanger, Unwired
from .storage.api_keys import ApiKeyStore
from .storage.archive_backfill import ArchiveBackfillStore
from .storage.archive_backlog import ArchiveBacklog
from .storage.audit import AuditStore
from .storage.automation import AutomationStore
from .storage.connection import connect, queue_connection
from .storage.companies import CompanyIndex
from .storage.contacts import ContactStore
from .storage.evaluations import EvaluationStore
from .storage.jobs import JobQueue
from .storage.partitions import PartitionQueue
from .storage.processes import ProcessRegistry
from .storage.profiles import ProfileStore
from .storage.provider_secrets import ProviderSecretStore
from .storage.redis_tools import Sharding
from .storage.score_index import ScoreIndex
from .storage.grades import GradeStore
from .storage.smart_lists import SmartListStore
from .storage.snapshot import SnapshotGateway
from .storage.stats import StatsStore
from .storage.throttles import Throttles
from .storage.timelines import TimelineStore
from .storage.users import UserStore
from .storage.vocabulary import VocabularyStore
from .storage.workspaces import WorkspaceStore


@dataclass
class Services:
    settings: dict[str, Any]
    keys: Keys
    #: The score store's client: for the storage gateways (and tests) only.
    redis: Any
    sharding: Sharding
    contacts: ContactStore
    partitions: PartitionQueue
    timelines: TimelineStore
    scores: ScoreIndex
    profiles: ProfileStore
    automation: AutomationStore
    smart_lists: SmartListStore
    grades: GradeStore
    #: Companies: their contacts and rolled-up scores (app/storage/companies.py).
    companies: CompanyIndex
    stats: StatsStore
    throttles: Throttles
    jobs: JobQueue
    snapshot: SnapshotGateway
    vocabulary: VocabularyStore
    evaluations: EvaluationStore
    api_keys: ApiKeyStore
    audit: AuditStore
    users: UserStore
    provider_secrets: ProviderSecretStore
    #: The workspaces registry (instance-wide, like ``api_keys`` and ``users``).
    workspaces: WorkspaceStore
    #: History outside Redis (app/archive/), and what waits in Redis while it is unavailable.
    archive: Archive
    archive_backlog: ArchiveBacklog
    #: Where the archive backfill (app/archive_backfill.py) stands.
    archive_backfill: ArchiveBackfillStore
    #: The live processes' announcements (instance-wide; app/processes.py).
    processes: ProcessRegistry
    clock: Clock
    #: The workspace these services serve (``default``: the plain key prefix).
    workspace: str = "default"
    #: Ports, plugged in by create_app: queueing jobs, the listener to scoring (workflows register
    #: theirs at start-up), and changing a score by hand (what workflow steps use).
    enqueue: JobPort = field(default_factory=lambda: Unwired("enqueue"))  # type: ignore[assignment]
    events: EventSink = field(default_factory=NoListener)
    change_score: ScoreChanger = field(
        default_factory=lambda: Unwired("change_score"))  # type: ignore[assignment]

    @property
    def queue(self) -> Queue:
        """The main RQ queue (workers take from ``jobs.workflow_queue`` first: ``jobs.queues``)."""
        return self.jobs.queue


#: The workspace every deployment has, whose keys keep the plain prefix.
DEFAULT_WORKSPACE = "default"


def workspace_prefix(key_prefix: str, workspace: str) -> str:
    """The key prefix of a workspace: the plain one for ``default``, ``{KEY_PREFIX}:w:{ID}`` otherwise (before
    any hash tag, so every multi-key script still touches one slot)."""
    return key_prefix if workspace == DEFAULT_WORKSPACE else f"{key_prefix}:w:{workspace}"


def build_services(settings: dict[str, Any], base: Services | None = None,
                   workspace: str = DEFAULT_WORKSPACE) -> Services:
    """The services of one workspace. ``base`` (the default workspace's) lends its connections, queue, archive
    and clock, and the instance-wide stores (stored API keys and users, under the plain prefix)."""
    keys = Keys(workspace_prefix(settings["KEY_PREFIX"], workspace))
    if base is None:
        redis = connect(settings.get("STORE_URL") or settings["REDIS_URL"])
        queue = Queue(settings["QUEUE"], connection=queue_connection(settings["REDIS_URL"]))
        clock = settings.get("CLOCK") or SystemClock()  # only tests set CLOCK
        archive = open_archive(setting(settings, "ARCHIVE_URL"))
    else:
        redis, queue, clock, archive = base.redis, base.queue, base.clock, base.archive
    sharding = Sharding(int(settings["PARTITIONS"]), int(settings["INDEX_BUCKETS"]))
    scores = ScoreIndex(redis, keys, sharding)
    companies = CompanyIndex(redis, keys, sharding, scores)
    contacts = ContactStore(redis, keys, sharding, companies)
    return Services(
        settings=settings, keys=keys, redis=redis, sharding=sharding, workspace=workspace,
        contacts=contacts,
        partitions=PartitionQueue(redis, keys, sharding.partitions, int(settings["SEEN_SECONDS"]), clock),
        timelines=TimelineStore(redis, keys, int(settings["LEDGER_MAX"]), sharding),
        scores=scores,
        profiles=ProfileStore(redis, keys),
        automation=AutomationStore(redis, keys),
        smart_lists=SmartListStore(redis, keys),
        grades=GradeStore(redis, keys),
        companies=companies,
        stats=StatsStore(redis, keys),
        throttles=Throttles(redis, keys),
        jobs=JobQueue(queue, redis, keys, base.jobs.workflow_queue if base else None),
        snapshot=SnapshotGateway(redis, keys, sharding, contacts, scores),
        vocabulary=VocabularyStore(redis, keys),
        evaluations=EvaluationStore(redis, keys),
        api_keys=base.api_keys if base else ApiKeyStore(redis, keys),
        audit=AuditStore(redis, keys),
        users=base.users if base else UserStore(redis, keys),
        workspaces=base.workspaces if base else WorkspaceStore(redis, keys),
        provider_secrets=ProviderSecretStore(redis, keys),
        archive=archive,
        archive_backlog=ArchiveBacklog(redis, keys, sharding.partitions),
        archive_backfill=ArchiveBackfillStore(redis, keys, contacts.registry),
        processes=base.processes if base else ProcessRegistry(redis, keys),
        clock=clock,
    )


#: A function that plugs a port into a freshly built ``Services`` (``create_app`` registers them once).
Wiring = Callable[[Services], None]


class Tenancy:
    """The services of every workspace of one app: the default's, built by ``init_app``, and the others',
    built on first use and kept (one per workspace per process), each wired like the default."""

    def __init__(self, default: Services):
        self.default = default
        self.wiring: list[Wiring] = []
        self._built: dict[str, Services] = {DEFAULT_WORKSPACE: default}
        self._lock = threading.Lock()

    def wire(self, plug: Wiring) -> None:
        """Plug a port into every workspace's services, now and when one is built later."""
        self.wiring.append(plug)
        for services in list(self._built.values()):
            plug(services)

    def get(self, workspace: str) -> Services:
        """The services of ``workspace`` (whether it exists is the caller's question: app/workspaces.py)."""
        services = self._built.get(workspace)
        if services is not None:
            return services
        with self._lock:
            if workspace not in self._built:
                built = build_services(self.default.settings, self.default, workspace)
                for plug in self.wiring:
                    plug(built)
                self._built[workspace] = built
            return self._built[workspace]

    def forget(self, workspace: str) -> None:
        """Drop a deleted workspace's services from this process."""
        if workspace != DEFAULT_WORKSPACE:
            with self._lock:
                self._built.pop(workspace, None)


#: The workspace the current request or job acts in.
_current: ContextVar[str] = ContextVar("scorekeeper_workspace", default=DEFAULT_WORKSPACE)


def current_workspace() -> str:
    return _current.get()


@contextmanager
def in_workspace(workspace: str) -> Iterator[None]:
    """Act in ``workspace`` for the duration (a job, a command, a test)."""
    token = _current.set(workspace)
    try:
        yield
    finally:
        _current.reset(token)


def enter_workspace(workspace: str) -> Callable[[], None]:
    """Act in ``workspace`` from now on; returns the function that goes back (a request's teardown calls it)."""
    token = _current.set(workspace)
    return lambda: _current.reset(token)


#: Where a request keeps how to go back to the workspace it started in (per request, not on ``g``: an app
#: context can outlive a request).
_RESTORE = "scorekeeper.workspace.restore"


def enter_request_workspace(workspace: str) -> None:
    """The current request acts in ``workspace`` until it ends (its teardown goes back)."""
    from flask import request

    request.environ.setdefault(_RESTORE, []).append(enter_workspace(workspace))


def _leave_request_workspace(_error: BaseException | None = None) -> None:
    from flask import request

    for restore in reversed(request.environ.pop(_RESTORE, [])):
        restore()


def init_app(app: Flask) -> Services:
    services = build_services(app.config)
    app.extensions["scorekeeper"] = services
    app.extensions["scorekeeper.tenancy"] = Tenancy(services)
    app.teardown_request(_leave_request_workspace)
    return services


def tenancy() -> Tenancy:
    """Every workspace's services of the current app."""
    return current_app.extensions["scorekeeper.tenancy"]


def wire(app: Flask, plug: Wiring) -> None:
    """Plug a port into the services of every workspace of ``app`` (see ``Tenancy.wire``)."""
    app.extensions["scorekeeper.tenancy"].wire(plug)


def get_services() -> Services:
    """The services of the current app (request, CLI command or job), in the current workspace."""
    workspace = _current.get()
    if workspace == DEFAULT_WORKSPACE:
        return current_app.extensions["scorekeeper"]
    return current_app.extensions["scorekeeper.tenancy"].get(workspace)
