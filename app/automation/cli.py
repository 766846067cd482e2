"""The workflow CLI: ``python -m app.automation.cli validate FILE...`` and ``schema PATH``.

``validate`` prints each problem as ``file: field: problem`` and exits 1 if there is any;
``schema`` writes the JSON Schema generated from the marshmallow schemas.
"""
from __future__ import annotations

import sys

from .config import validate_file, write_json_schema


def main(argv: list[str] | None = None) -> int:
    """``validate FILE...`` prints problems (exit 1 if any); ``schema PATH`` writes the JSON Schema."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 2 and args[0] == "schema":
        write_json_schema(args[1])
        return 0
    if len(args) >= 2 and args[0] == "validate":
        problems = [p for path in args[1:] if not path.endswith(".schema.json") for p in validate_file(path)]
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    print("usage: python -m app.automation.cli validate FILE... | schema PATH", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
