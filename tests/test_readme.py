"""The README stays true: its first lines give the two commands, and its table lists every setting."""
from __future__ import annotations

from pathlib import Path

from app.settings import DEFAULTS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_first_lines_give_the_run_and_test_commands():
    head = "\n".join(README.splitlines()[:5])
    assert "`make run`" in head and "`make test`" in head


def test_every_setting_is_in_the_table():
    names = ["REDIS_URL" if n == "REDIS_URL" else f"SCOREKEEPER_{n}" for n in DEFAULTS]
    missing = [n for n in names if f"| `{n}` |" not in README]
    assert missing == []
