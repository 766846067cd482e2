"""Write the mutation report (Markdown) from mutmut's results in ./mutants: totals, per file, survivors.

Run by `make mutate` after `mutmut run`; the report is committed as docs/mutation-report.md.
Each survivor is shown as its diff; docs/testing.md says why each is equivalent or harmless.
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

MUTMUT = str(Path(sys.executable).with_name("mutmut"))


def mutmut(*args: str) -> str:
    return subprocess.run([MUTMUT, *args], check=True, capture_output=True, text=True).stdout


def main() -> None:
    statuses: dict[str, str] = {}
    for line in mutmut("results", "--all", "true").splitlines():
        match = re.match(r"\s*(\S+): (.+)$", line)
        if match:
            statuses[match.group(1)] = match.group(2).strip()
    by_file: dict[str, Counter] = defaultdict(Counter)
    for name, status in statuses.items():
        module = name.split(".x", 1)[0].split(".xǁ", 1)[0]
        by_file[module][status] += 1
    total = Counter(statuses.values())
    killed = total["killed"] + total["timeout"]
    unchecked = total["not checked"]
    scored = sum(total.values()) - total["skipped"] - unchecked
    print("# Mutation report")
    print()
    print(f"Written by `make mutate` (mutmut 3) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Mutated:")
    print("`app/scoring/` and `app/automation/triggers.py`; tests: the fast specification tests named in")
    print("`[tool.mutmut]` in pyproject.toml. Why each survivor is equivalent or harmless: docs/testing.md.")
    print()
    print(f"**{killed} of {scored} mutants killed ({100 * killed / max(scored, 1):.1f} %)**"
          + (f"; {total['timeout']} of them by timeout" if total["timeout"] else "") + ".")
    if unchecked:
        print()
        print(f"**Partial run:** {unchecked} of {sum(total.values())} mutants were not checked (the run was "
              "stopped); the score counts the checked ones only.")
    print()
    print("| module | killed | survived | no tests | timeout | not checked |")
    print("|---|---|---|---|---|---|")
    for module in sorted(by_file):
        c = by_file[module]
        print(f"| `{module}` | {c['killed']} | {c['survived']} | {c['no tests']} | {c['timeout']} "
              f"| {c['not checked']} |")
    survivors = sorted(name for name, status in statuses.items()
                       if status not in ("killed", "timeout", "not checked"))
    print()
    print(f"## Survivors ({len(survivors)})")
    for name in survivors:
        print()
        print(f"### `{name}` ({statuses[name]})")
        print()
        print("```diff")
        diff = mutmut("show", name).splitlines()
        print("\n".join(line for line in diff if not line.startswith("# ")).strip())
        print("```")


if __name__ == "__main__":
    main()
