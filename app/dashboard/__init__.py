"""The dashboard: server-rendered pages over the scoring core and workflows, at /dashboard.

``blueprint`` holds the blueprint and its hooks (sign-in, CSRF, security headers, HTML
errors); ``auth`` the session and sign-in pages; one module of views per area
(``profiles``, ``rules``, ``versions``, ``contacts``, ``automation``); ``forms`` and ``rule_form``
turn form fields into the API's documents and errors back into field messages; ``charts`` draws the SVGs' geometry;
``actions`` holds the few domain operations the core has only inside its API views.
"""
from __future__ import annotations

# Their routes join the blueprint.
from . import (  # noqa: F401
    account, audit, auth, automation, companies, contacts, evaluations, keys, members, profiles, providers, rules,
    versions)
from .blueprint import bp

__all__ = ["bp"]
