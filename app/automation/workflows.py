"""Where workflows come from, and the compiled trigger index (rebuilt only when the workflows change).

Two owners, never mixed: a workflow is managed by its file in the workflows directory (loaded when the web
server starts, or by ``scorekeeper workflows sync`` — never as a side effect of another command), or by its
users over the API and the dashboard. Edits of a file-managed workflow are refused with a 409 (store); a file
never replaces a user's workflow (sync). So no change a user made is ever reverted silently.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import ValidationError as SchemaError

from ..audit import record
from .config import flatten_errors, load_workflow
from ..storage.automation import AutomationStore
from .triggers import TriggerIndex, Workflow

log = logging.getLogger(__name__)

#: Files in the workflows directory that are not workflows.
IGNORED_SUFFIX = ".schema.json"


class WorkflowConfigError(Exception):
    """A workflow file is invalid; the message names the file, the field and the problem."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"invalid workflow file {path}: " + "; ".join(problems))


def load_file(path: Path) -> Workflow:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise WorkflowConfigError(path, [(f"invalid JSON at line {error.lineno} column {error.colno}: "
                                         f"{error.msg}")]) from error
    try:
        workflow = load_workflow(doc)
    except SchemaError as error:
        raise WorkflowConfigError(path, flatten_errors(error.messages)) from error
    if workflow.id != path.stem:
        raise WorkflowConfigError(path, [(f"id: {workflow.id!r} differs from the file name; "
                                         f"name the file {workflow.id}.json")])
    return workflow


def validate_file(path: str | Path) -> list[str]:
    """Problems of a workflow file, each line prefixed with the file name (for the CLI): what
    ``load_file`` would refuse it for."""
    path = Path(path)
    try:
        load_file(path)
    except (OSError, UnicodeDecodeError) as error:
        return [f"{path}: cannot read: {error}"]
    except WorkflowConfigError as error:
        return [f"{path}: {problem}" for problem in error.problems]
    return []


def workflow_files(directory: Path) -> list[Path]:
    """The workflow files of ``directory``: every ``*.json`` but ``*IGNORED_SUFFIX``, sorted (none if it is missing)."""
    if not directory.is_dir():
        return []
    return [path for path in sorted(directory.glob("*.json")) if not path.name.endswith(IGNORED_SUFFIX)]


def load_directory(directory: Path) -> list[Workflow]:
    """Every workflow file in ``directory`` (sorted); the first invalid one raises."""
    return [load_file(path) for path in workflow_files(directory)]


@dataclass(frozen=True)
class SyncReport:
    """What a sync of the workflow files did, by workflow id."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    #: Files not loaded because a workflow of that id was created over the API or the dashboard: a file never
    #: replaces a user's workflow (rename the file, or delete the user's workflow first).
    refused: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """One human line per kind of change that happened."""
        out = [f"{kind} {', '.join(ids)}" for kind, ids in (("created", self.created), ("updated", self.updated),
                                                             ("removed", self.removed), ("unchanged", self.unchanged))
               if ids]
        out += [f"refused {wid}.json: a workflow {wid} made over the API or dashboard exists; rename the file "
                f"or delete that workflow" for wid in self.refused]
        return out


def sync_files(store: AutomationStore, workflows: list[Workflow]) -> SyncReport:
    """Make the file-managed workflows in Redis exactly the files: new or changed ones written, removed files'
    workflows dropped. Workflows made over the API or the dashboard are never touched, even when a file has
    the same id (that file is refused and reported)."""
    stored = store.workflow_docs()
    wanted = {w.id: w for w in workflows}
    report: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "removed": [], "refused": []}
    for workflow in workflows:
        doc = stored.get(workflow.id)
        if doc is not None and doc.get("managed_by") != "file":
            report["refused"].append(workflow.id)
            log.warning("workflow file refused: a user's workflow has its id", extra={"workflow_id": workflow.id})
        elif doc is None or doc.get("file") != f"{workflow.id}.json" or doc.get("config") != _plain(workflow.config):
            store.put_file_workflow(dict(workflow.config), f"{workflow.id}.json")
            report["created" if doc is None else "updated"].append(workflow.id)
        else:
            report["unchanged"].append(workflow.id)
    for workflow_id, doc in sorted(stored.items()):
        if doc.get("managed_by") == "file" and workflow_id not in wanted:
            store.delete_file_workflow(workflow_id)
            report["removed"].append(workflow_id)
    return SyncReport(**{kind: tuple(ids) for kind, ids in report.items()})


def sync_directory(services: Any, directory: str | Path | None) -> SyncReport:
    """Load every workflow file of ``directory`` ("" or None: none) and sync them; an invalid file raises
    WorkflowConfigError before anything is written."""
    workflows = load_directory(Path(directory)) if directory else []
    report = sync_files(services.automation, workflows)
    log.info("workflow files synced", extra={"directory": str(directory), "files_created": len(report.created),
                                              "files_updated": len(report.updated),
                                              "files_removed": len(report.removed),
                                              "files_refused": len(report.refused)})
    return report


def _plain(config: dict[str, Any]) -> Any:
    """The config as it reads back from JSON (tuples become lists), to compare with the stored one."""
    return json.loads(json.dumps(config))


def stored_workflows(store: AutomationStore) -> list[Workflow]:
    """Every stored workflow that still validates (one that does not is logged and left out)."""
    out = []
    for workflow_id, doc in sorted(store.workflow_docs().items()):
        try:
            out.append(load_workflow(doc["config"]))
        except SchemaError as error:
            log.error("stored workflow is invalid; skipped", extra={"workflow_id": workflow_id,
                                                                    "problems": flatten_errors(error.messages)})
    return out


_cache: dict[tuple[int, str], tuple[str, TriggerIndex]] = {}
_cache_lock = threading.Lock()


def compiled_index(services: Any) -> TriggerIndex:
    """The trigger index of the current workflows: one GET per call, a rebuild only after a change."""
    store = services.automation
    rev = store.workflows_rev()
    key = (id(store), services.keys.prefix)
    cached = _cache.get(key)
    if cached is not None and cached[0] == rev:
        return cached[1]
    index = TriggerIndex.build(stored_workflows(store))
    with _cache_lock:
        _cache[key] = (rev, index)
    return index



def change_kind(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """The audit action of storing ``after`` over ``before`` (configs): create, enable, disable or edit."""
    if before is None:
        return "workflow.create"
    rest_before = {k: v for k, v in before.items() if k != "enabled"}
    rest_after = {k: v for k, v in after.items() if k != "enabled"}
    if rest_before == rest_after and bool(before.get("enabled", True)) != bool(after.get("enabled", True)):
        return "workflow.enable" if after.get("enabled", True) else "workflow.disable"
    return "workflow.edit"


def save_workflow(services: Any, config: dict[str, Any], source: str, actor: str) -> dict[str, Any]:
    """Store a user's workflow (API or dashboard) and write the audit entry: what every user edit goes through."""
    existing = services.automation.workflow_doc(config["id"])
    doc = services.automation.put_workflow(config, source)
    record(services, actor, change_kind(existing["config"] if existing else None, config), f"workflow:{config['id']}")
    return doc


def remove_workflow(services: Any, workflow_id: str, actor: str) -> bool:
    """Delete a user's workflow and write the audit entry; False if there was none."""
    removed = services.automation.delete_workflow(workflow_id)
    if removed:
        record(services, actor, "workflow.delete", f"workflow:{workflow_id}")
    return removed
