"""Message templates: Jinja2's sandboxed environment, so a template cannot reach Python internals."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment


class TemplateFailed(Exception):
    """A template could not be rendered (undefined name, unsafe access, error in the template)."""


@lru_cache(maxsize=1)
def sandbox() -> SandboxedEnvironment:
    """Undefined names are errors (a typo should not send an empty message); no autoescape: plain text."""
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=512)
def _compiled(text: str) -> Any:
    return sandbox().from_string(text)


def render(text: str, context: dict[str, Any]) -> str:
    try:
        return _compiled(text).render(**context)
    except TemplateError as error:
        raise TemplateFailed(f"template failed: {error}") from error
