"""gunicorn settings read from the working directory (``make run``, the Procfile, and every server
``python -m bench`` starts, which runs gunicorn from the repository's root).

The access log format leaves out gunicorn's default ``%(u)s`` (the Basic-auth user name, half of
Postmark's webhook credential), the query string (``%(U)s`` is the path only: a key pasted into a
URL stays out of the logs), the referrer and the request headers. It keeps who, when, what, the
outcome, the size, the time taken (seconds) and the request id the app assigns.

``post_worker_init`` freezes what the worker made while loading the app (``gc.freeze``): the cycle
collector then never walks those ~hundreds of thousands of objects again. Without it, a full collection
walked them every ~2,000 requests of a smart-list page (46–65 ms each at load 2, 126–170 ms at load 5)
and each collection of the middle generation took ~1 ms; with it, 0.1 ms and no full collection of the
app's objects (docs/performance.md, "Row 6 (2026-12-03 afternoon)").
"""
import gc

access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s" %({x-request-id}o)s'


def post_worker_init(worker):
    """After the worker loaded the app: its objects live as long as the process, so out of the collector's way."""
    gc.collect()
    gc.freeze()
