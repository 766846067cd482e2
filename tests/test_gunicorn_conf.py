"""gunicorn.conf.py: what every gunicorn worker does once it has loaded the app."""
from __future__ import annotations

import gc
import runpy
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def test_a_worker_freezes_what_loading_the_app_made():
    post_worker_init = runpy.run_path(str(CONF))["post_worker_init"]
    before = gc.get_freeze_count()
    try:
        post_worker_init(None)
        assert gc.get_freeze_count() > before  # the collector no longer walks the loaded app's objects
    finally:
        gc.unfreeze()
