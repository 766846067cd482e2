"""``scorekeeper worker`` whose PostgreSQL archive gives a call up after ``CALL_TIMEOUT_S`` instead of
``ARCHIVE_CALL_TIMEOUT_S`` (20 s), so that a test sees a frozen archive given up in seconds. Run as ``python -m
tests.impatient_archive_worker`` by tests/faults/test_archive_postgres_stopped.py; never part of the app."""
from __future__ import annotations

from app.archive import postgres
from workers.main import main

#: The bound of the worker's archive calls, in seconds.
CALL_TIMEOUT_S = 2.0

if __name__ == "__main__":
    postgres.ARCHIVE_CALL_TIMEOUT_S = CALL_TIMEOUT_S  # read when the app makes its archive
    main()
