"""Where workflows come from: files loaded at start-up and the API, both kept in Redis; and the
compiled trigger index, rebuilt only when the workflows change.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from marshmallow import ValidationError as SchemaError

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


def load_directory(directory: Path) -> list[Workflow]:
    """Every ``*.json`` workflow in ``directory`` (sorted); the first invalid one raises."""
    if not directory.is_dir():
        return []
    return [load_file(path) for path in sorted(directory.glob("*.json")) if not path.name.endswith(IGNORED_SUFFIX)]


def sync_files(store: AutomationStore, workflows: list[Workflow]) -> None:
    """Make Redis hold exactly the file workflows: new or changed ones written, removed files dropped.

    Workflows created over the API are left alone; a file wins over an API edit of its workflow.
    """
    stored = store.workflow_docs()
    wanted = {w.id: w for w in workflows}
    for workflow in workflows:
        source = f"file:{workflow.id}.json"
        doc = stored.get(workflow.id)
        if doc is None or doc.get("source") != source or doc.get("config") != json.loads(json.dumps(workflow.config)):
            store.put_workflow(dict(workflow.config), source)
    for workflow_id, doc in stored.items():
        if str(doc.get("source", "")).startswith("file:") and workflow_id not in wanted:
            store.delete_workflow(workflow_id)


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

