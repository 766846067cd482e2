"""The dashboard: server-rendered pages over the scoring core and workflows, at /dashboard.

``blueprint`` holds the blueprint and its hooks (sign-in, CSRF, security headers, HTML
errors); ``auth`` the session and sign-in pages; one module of views per area
(``profiles``, ``contacts``, ``automation``); ``forms`` turns form fields into the API's
documents and errors back into field messages; ``charts`` draws the SVGs' geometry;
``actions`` holds the few domain operations the core has only inside its API views.
"""
from __future__ import annotations

from . import auth, automation, contacts, profiles  # noqa: F401  (their routes join the blueprint)
from .blueprint import bp

__all__ = ["bp"]
