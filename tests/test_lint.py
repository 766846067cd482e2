"""The tree passes ruff with the rule classes pyproject.toml selects (``[tool.ruff.lint]``): unused imports and
variables, redefinitions, bugbear's mistakes and blind excepts stay at zero."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_tree_has_no_ruff_findings():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
