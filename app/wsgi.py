"""The web server's application (``gunicorn 'app.wsgi:app'``): the app, with the workflow files loaded.

Loading ``workflows/*.json`` happens here, when the server starts, and by ``scorekeeper workflows sync`` —
never when another command or a worker builds the app, so nothing reverts an edit made meanwhile.

The process announces itself as ``web`` (app/processes.py): a thread renews it, no request reaches Redis for it,
a worker gunicorn forks after loading the app here (``--preload``) announces itself anew, and a clean stop
withdraws it (gunicorn's SIGTERM; ``flask run``'s too, through ``exit_on_sigterm``).
"""
from __future__ import annotations

import os

from . import create_app
from .automation import load_workflow_files
from .processes import exit_on_sigterm, start_heartbeat

app = create_app()
load_workflow_files(app)
if os.environ.get("FLASK_RUN_FROM_CLI") == "true":  # `flask run` (set by Flask's CLI before it loads the app)
    exit_on_sigterm()  # SIGTERM withdraws the announcement; any other importer (a test run, a script) keeps its own
heartbeat = start_heartbeat(app.extensions["scorekeeper"], "web", fork_again=True)
