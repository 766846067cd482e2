"""Backup and restore: a deployment's data as one portable, versioned archive (gzip-compressed JSON lines).

The archive holds the sources of truth (app/storage/snapshot.py): profiles with every version, workflows,
smart lists, contacts with tags, DND, fold states (scores), ledgers and interaction timelines (the hot records
from Redis, and the older ones from the interaction archive, app/archive/, with the checkpoints at the hot
horizon), workflow runs,
webhook deliveries, the inbox, aliases, API keys (hashed) and users, the audit trail, and interactions accepted
but not scored yet. Indexes are rebuilt on
restore. It is written while the server runs; each contact is read consistently.

Layout, one JSON object per line:
  {"format": "scorekeeper-backup", "version": 1, "created_at": ms, "key_prefix": ..., ...}   header
  {"kind": "documents", ...} {"kind": "contact", ...}... {"kind": "run", ...}... {"kind": "delivery", ...}...
  {"kind": "audit", ...}... {"kind": "notifications", ...} {"kind": "pending", ...}...
  {"kind": "end", "counts": {"contact": N, ...}}                                                 trailer
A restore first reads the whole archive (gzip checksum, header, trailer counts), and writes only when it is
complete, and only into a deployment that holds nothing yet.
"""
from __future__ import annotations

import gzip
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .automation.deliveries import enqueue_attempt
from .automation.runner import schedule_resume
from .indexes import backfill_once
from .clock import now_ms
from .archive import Archive, ArchivedRecord
from .scoring.records import TimelineRecord, decode_record, lacks_properties
from .services import Services
from .storage.profiles import ProfileStore
from .storage.snapshot import ContactData, SnapshotGateway

FORMAT = "scorekeeper-backup"
#: The archive layout's version; a restore refuses a newer one. 2: contacts carry their hot horizon and the
#: records only the interaction archive holds (a version 1 reader would drop them silently).
VERSION = 2

#: gzip level of the archive: 6 compresses JSON nearly as well as 9 at a fraction of the time (level 9 took
#: about a third of a backup's time).
COMPRESS_LEVEL = 6
#: Contacts, runs or deliveries written per round trip during a restore.
RESTORE_PAGE = 200
#: Statuses after which a run or a delivery has nothing scheduled.
FINISHED = {"run": frozenset({"succeeded", "failed"}), "delivery": frozenset({"succeeded", "dead"})}
#: ``progress(n)``: called with the number of items just written or restored.
Progress = Callable[[int], None]


class ArchiveError(Exception):
    """The archive cannot be restored: not an archive, a newer version, cut short, or damaged."""


class NotEmpty(Exception):
    """The target deployment already holds data: a restore only fills an empty one."""


def _line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


def count_items(gateway: SnapshotGateway) -> int:
    """Roughly what a backup will write (for the progress bar): the contacts."""
    return gateway.contact_count()


def with_history(history: Archive | None, page: list[ContactData], workspace: str) -> list[ContactData]:
    """The contacts with the records only the interaction archive holds whole, read in one call per page: those
    that left Redis, and those whose copy in Redis lacks properties (app/scoring/kept_properties.py: the copy says
    which). A restore appends these to its archive before the timeline's copies (the archive keeps the first of a
    key), so its archive holds every record whole, as this one does. A backup fails (``ArchiveUnavailable``) rather
    than leave history out."""
    if history is None:
        return page
    found = history.histories([contact.id for contact in page], workspace=workspace)
    for contact in page:
        timeline = contact.timeline
        contact.archived = [r.to_json() for r in found.get(contact.id, [])
                            if r.key not in timeline or lacks_properties(orjson.loads(timeline[r.key]))]
    return page


def write_archive(gateway: SnapshotGateway, path: str | Path, settings: dict[str, Any],
                  progress: Progress = lambda n: None, workspace: str = "default",
                  history: Archive | None = None) -> Counter:
    """Write the archive of one workspace to ``path`` (via a temporary file, renamed when complete); returns
    counts by kind. The header names the workspace; a restore may go into any empty workspace. With ``history``
    (the interaction archive), each contact carries the records that left Redis too."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    counts: Counter = Counter()
    with gzip.open(partial, "wb", compresslevel=COMPRESS_LEVEL) as out:
        out.write(_line({"format": FORMAT, "version": VERSION, "created_at": int(time.time() * 1000),
                         "key_prefix": gateway.keys.prefix, "workspace": workspace,
                         "partitions": settings.get("PARTITIONS"),
                         "index_buckets": settings.get("INDEX_BUCKETS")}))
        out.write(_line({"kind": "documents", **gateway.documents()}))
        counts["documents"] += 1
        for page in gateway.contacts():
            for contact in with_history(history, page, workspace):
                out.write(_line({"kind": "contact", **contact.to_json()}))
            counts["contact"] += len(page)
            progress(len(page))
        for kind, pages in (("run", gateway.runs()), ("delivery", gateway.deliveries())):
            for docs in pages:
                for raw in docs:
                    out.write(_line({"kind": kind, "doc": raw}))
                counts[kind] += len(docs)
        for entries in gateway.audit():
            out.write(_line({"kind": "audit", "entries": entries}))
            counts["audit"] += len(entries)
        notifications = gateway.notifications()
        out.write(_line({"kind": "notifications", "newest_first": notifications}))
        counts["notification"] += len(notifications)
        for items in gateway.pending():
            out.write(_line({"kind": "pending", "items": items}))
            counts["pending"] += len(items)
        out.write(_line({"kind": "end", "counts": dict(counts)}))
    partial.replace(path)
    return counts


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """The archive's records after its header (checked), trailer included."""
    try:
        with gzip.open(path, "rb") as lines:
            header = orjson.loads(lines.readline() or b"null")
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ArchiveError(f"{path} is not a Scorekeeper backup")
            if int(header.get("version", 0)) > VERSION:
                raise ArchiveError(f"{path} is a version {header['version']} backup; this Scorekeeper reads "
                                   f"version {VERSION} and older: upgrade first")
            for number, line in enumerate(lines, start=2):
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    raise ArchiveError(f"{path} line {number}: not JSON: {error.msg}") from error
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise ArchiveError(f"{path} cannot be read: {error}") from error


def check_archive(path: str | Path) -> dict[str, int]:
    """Read the whole archive; its counts by kind when it is complete, else ArchiveError."""
    seen: Counter = Counter()
    trailer = None
    for record in read_records(path):
        kind = record.get("kind")
        if trailer is not None:
            raise ArchiveError(f"{path} has records after its end")
        if kind == "end":
            trailer = record.get("counts") or {}
        elif kind == "notifications":
            seen["notification"] += len(record.get("newest_first") or [])
        elif kind == "pending":
            seen["pending"] += len(record.get("items") or [])
        elif kind == "audit":
            seen["audit"] += len(record.get("entries") or [])
        else:
            seen[kind] += 1
    if trailer is None:
        raise ArchiveError(f"{path} is incomplete (it has no end record): was the backup interrupted?")
    if {k: v for k, v in seen.items() if v} != {k: v for k, v in trailer.items() if v}:
        raise ArchiveError(f"{path} does not hold what its end record lists: {dict(seen)} != {trailer}")
    return dict(trailer)


def restore_archive(services: Services, path: str | Path, progress: Progress = lambda n: None) -> dict[str, int]:
    """Restore a complete archive into an empty deployment, then index the contacts for search and activity;
    returns the archive's counts by kind."""
    counts = check_archive(path)
    gateway, profiles = services.snapshot, services.profiles
    if not gateway.is_empty():
        raise NotEmpty(f"the deployment with key prefix {gateway.keys.prefix!r} already holds data: restore "
                       "into an empty Redis (or another SCOREKEEPER_KEY_PREFIX)")
    active: set[str] = set()
    buffers: dict[str, list[Any]] = {"contact": [], "run": [], "delivery": []}
    def write_contacts(items: list[ContactData]) -> None:
        # every record goes to this deployment's interaction archive first (idempotent): those that left Redis
        # live only there, and the hot ones must be there before a horizon may move past them. The archived ones
        # come first: the archive keeps the first of a key, so a copy that lacks properties never stands for its
        # whole record (``with_history``). A copy that lacks properties is never appended: where the backup holds no
        # whole record for it (taken while the archive lacked it), it would stand for one — a once-per key for the
        # value itself — and it stays in Redis as it was (as the archive backfill leaves such copies)
        workspace = services.workspace
        copies = [(c.id, decode_record(k, orjson.loads(v))) for c in items for k, v in c.timeline.items()]
        services.archive.append([ArchivedRecord(c.id, TimelineRecord.from_json(r), workspace)
                                 for c in items for r in c.archived]
                                + [ArchivedRecord(cid, record, workspace) for cid, record in copies
                                   if not record.dropped])
        gateway.write_contacts(items, active)

    writers = {"contact": write_contacts,
               "run": gateway.write_runs, "delivery": gateway.write_deliveries}

    unfinished: dict[str, list[dict[str, Any]]] = {"run": [], "delivery": []}

    def flush(kind: str) -> None:
        if buffers[kind]:
            writers[kind](buffers[kind])
            if kind in unfinished:
                unfinished[kind] += [doc for doc in map(orjson.loads, buffers[kind])
                                     if doc.get("status") not in FINISHED[kind]]
            progress(len(buffers[kind]) if kind == "contact" else 0)
            buffers[kind] = []

    for record in read_records(path):
        kind = record["kind"]
        if kind == "documents":
            gateway.write_documents(record)
            active = abandon_publishes(profiles)
        elif kind == "contact":
            buffers[kind].append(ContactData.from_json(record))
        elif kind in ("run", "delivery"):
            buffers[kind].append(record["doc"])
        elif kind == "notifications":
            gateway.write_notifications(record["newest_first"])
        elif kind == "audit":
            gateway.write_audit(record["entries"])
        elif kind == "pending":
            gateway.write_pending(record["items"])
        if kind in buffers and len(buffers[kind]) >= RESTORE_PAGE:
            flush(kind)
    for kind in buffers:
        flush(kind)
    backfill_once(services)  # search terms, latest activity and DND, from the restored contacts and timelines
    resume(services, unfinished["run"], unfinished["delivery"])
    return counts


def resume(services: Services, runs: list[dict[str, Any]], deliveries: list[dict[str, Any]]) -> None:
    """Schedule again what was scheduled when the backup was taken (RQ's queue is not in the archive): each
    unfinished run resumes at its ``resume_at`` (now if that passed), each delivery still being attempted
    gets its next attempt at ``next_attempt_at``. A job that finds nothing to do does nothing, so a restored
    run that resumes twice is harmless."""
    now = now_ms()
    for run in runs:
        schedule_resume(services, services.automation, run, max(0, int(run.get("resume_at") or now) - now),
                        "restore")
    for delivery in deliveries:
        delay_s = max(0, int(delivery.get("next_attempt_at") or now) - now) / 1000
        enqueue_attempt(services, delivery["id"], delivery["cycle"], int(delivery["tries"]) + 1, delay_s,
                        suffix="restore")


def abandon_publishes(profiles: ProfileStore) -> set[str]:
    """A publish that was running when the backup was taken did not survive it: its profile goes back to its
    live version (publish again to build the new one). Returns the active "PROFILE@VERSION" fields."""
    for doc in profiles.all().values():
        if doc.get("building_version"):
            doc.pop("building_version", None)
            doc.pop("building_job", None)
            profiles.save(doc)
    return {version.field for version in profiles.active()}
