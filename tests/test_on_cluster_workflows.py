"""The workflow run specifications again, with the score store on a real Redis Cluster."""
from __future__ import annotations

from . import test_workflow_runs as _runs
from .test_on_cluster import cluster, store_url  # noqa: F401  (fixtures)

globals().update({name: getattr(_runs, name) for name in dir(_runs)
                  if name.startswith("test_") or name in ("scored", "client", "services", *_runs.__all__)})
