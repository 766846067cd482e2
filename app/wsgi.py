"""The web server's application (``gunicorn 'app.wsgi:app'``): the app, with the workflow files loaded.

Loading ``workflows/*.json`` happens here, when the server starts, and by ``scorekeeper workflows sync`` —
never when another command or a worker builds the app, so nothing reverts an edit made meanwhile.
"""
from __future__ import annotations

from . import create_app
from .automation import load_workflow_files

app = create_app()
load_workflow_files(app)
