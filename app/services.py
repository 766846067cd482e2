"""The things every part needs — settings, key names, the storage gateways, the ports — built once.

The app factory builds them and keeps them in ``app.extensions``; workers and the CLI
build the app too, so a job gets exactly what a request gets.
"""
from __future__ import annotations

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
from .storage.archive_backlog import ArchiveBacklog
from .storage.audit import AuditStore
from .storage.automation import AutomationStore
from .storage.connection import connect, queue_connection
from .storage.companies import CompanyIndex
from .storage.contacts import ContactStore
from .storage.evaluations import EvaluationStore
from .storage.jobs import JobQueue
from .storage.partitions import PartitionQueue
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
    #: History outside Redis (app/archive/), and what waits in Redis while it is unavailable.
    archive: Archive
    archive_backlog: ArchiveBacklog
    clock: Clock
    #: Ports, plugged in by create_app: queueing jobs, the listener to scoring (workflows register
    #: theirs at start-up), and changing a score by hand (what workflow steps use).
    enqueue: JobPort = field(default_factory=lambda: Unwired("enqueue"))  # type: ignore[assignment]
    events: EventSink = field(default_factory=NoListener)
    change_score: ScoreChanger = field(
        default_factory=lambda: Unwired("change_score"))  # type: ignore[assignment]

    @property
    def queue(self) -> Queue:
        """The RQ queue that workers take jobs from."""
        return self.jobs.queue


def build_services(settings: dict[str, Any]) -> Services:
    keys = Keys(settings["KEY_PREFIX"])
    redis = connect(settings.get("STORE_URL") or settings["REDIS_URL"])
    sharding = Sharding(int(settings["PARTITIONS"]), int(settings["INDEX_BUCKETS"]))
    queue = Queue(settings["QUEUE"], connection=queue_connection(settings["REDIS_URL"]))
    clock = settings.get("CLOCK") or SystemClock()  # only tests set CLOCK
    scores = ScoreIndex(redis, keys, sharding)
    companies = CompanyIndex(redis, keys, sharding, scores)
    contacts = ContactStore(redis, keys, sharding, companies)
    return Services(
        settings=settings, keys=keys, redis=redis, sharding=sharding,
        contacts=contacts,
        partitions=PartitionQueue(redis, keys, sharding.partitions, int(settings["SEEN_SECONDS"]), clock),
        timelines=TimelineStore(redis, keys, int(settings["LEDGER_MAX"])),
        scores=scores,
        profiles=ProfileStore(redis, keys),
        automation=AutomationStore(redis, keys),
        smart_lists=SmartListStore(redis, keys),
        grades=GradeStore(redis, keys),
        companies=companies,
        stats=StatsStore(redis, keys),
        throttles=Throttles(redis, keys),
        jobs=JobQueue(queue, redis, keys),
        snapshot=SnapshotGateway(redis, keys, sharding, contacts, scores),
        vocabulary=VocabularyStore(redis, keys),
        evaluations=EvaluationStore(redis, keys),
        api_keys=ApiKeyStore(redis, keys),
        audit=AuditStore(redis, keys),
        users=UserStore(redis, keys),
        provider_secrets=ProviderSecretStore(redis, keys),
        archive=open_archive(setting(settings, "ARCHIVE_URL")),
        archive_backlog=ArchiveBacklog(redis, keys, sharding.partitions),
        clock=clock,
    )


def init_app(app: Flask) -> Services:
    services = build_services(app.config)
    app.extensions["scorekeeper"] = services
    return services


def get_services() -> Services:
    """The services of the current app (request, CLI command or job)."""
    return current_app.extensions["scorekeeper"]
