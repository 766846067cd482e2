"""``scorekeeper worker`` whose archive keeps nothing: only to measure what archiving costs row 1, beside a
normal run (``python -m bench --rows 1 --archive-bypass``). Never a setting of the app, which archives every
interaction it scores (docs/archive.md)."""
from __future__ import annotations

from collections.abc import Iterable

import app.services
from app.archive import ArchivedRecord
from app.scoring.records import TimelineRecord


class NullArchive:
    """Takes every append and keeps nothing."""

    url = "null://"

    def append(self, records: Iterable[ArchivedRecord]) -> int:
        return sum(1 for _ in records)

    def history(self, contact_id: str, before: int | None = None, limit: int = 100) -> list[TimelineRecord]:
        return []

    def count(self) -> int:
        return 0

    def close(self) -> None:
        pass


app.services.open_archive = lambda url: NullArchive()  # type: ignore[assignment]

if __name__ == "__main__":
    from workers.main import main

    main()
