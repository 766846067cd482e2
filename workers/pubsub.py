"""RQ's pub/sub teardown with its wait bounded.

RQ 3.0 ends every ``work()`` (each burst, each stop) with ``unsubscribe``: ``UNSUBSCRIBE``, then
``PubSubWorkerThread.stop()``, then a join of one second. redis-py 8 made ``stop()`` itself join the thread *without*
a timeout. The thread reads with ``get_message(timeout=60)``; when it reads the unsubscribe's reply before ``stop()``
clears its flag (the main thread descheduled for a moment between the two calls, as on a loaded machine), its next
``get_message`` finds nothing subscribed and waits 60 s for a subscription, and ``stop()`` waits with it: a worker's
stop, or a test's burst, took a minute. Here the stop waits one second, as RQ
meant; the thread, a daemon, ends by itself when its wait does.

A thread that has not ended within that second is left to close its pub/sub itself (``PubSubWorkerThread.run`` ends
with ``pubsub.close()``): it may be inside a read of the connection (descheduled between reading the unsubscribe's
reply and parsing it), and ``close()`` from here would disconnect that connection under it and put it back in the
pool, which hands it to the next command while the thread, retrying its read, reconnects it and reads there too: two
readers on one socket, a reply taken by the wrong one, a command cut off ("Connection reset by peer" in the tests'
Redis reads after a burst, now and then, under load).

The order stays RQ's (``UNSUBSCRIBE``, then the stop): told to stop first, a thread between two reads ends and closes
its connection while this one sends the ``UNSUBSCRIBE`` on it (a bad file descriptor, then a reconnect of a pooled
connection). So a thread that read the reply before the stop still costs its second (one burst in ten under load).
"""
from __future__ import annotations

import inspect

from redis.client import PubSubWorkerThread

#: Seconds a worker's stop waits for its pub/sub thread (RQ's own join).
JOIN_S = 1.0
#: redis-py 8's ``stop`` takes a timeout for its join; redis-py 5's neither takes one nor joins.
_STOP_TAKES_TIMEOUT = "timeout" in inspect.signature(PubSubWorkerThread.stop).parameters


def stop_thread(thread: PubSubWorkerThread) -> bool:
    """Ask the pub/sub thread to end and wait for it at most ``JOIN_S``; whether it has ended."""
    if _STOP_TAKES_TIMEOUT:
        thread.stop(timeout=JOIN_S)
    else:
        thread.stop()
        thread.join(timeout=JOIN_S)
    return not thread.is_alive()


class BoundedUnsubscribe:
    """An RQ worker mixin (before the RQ class in the bases): ``unsubscribe`` as RQ's, with the wait bounded and
    the connection closed here only once the thread has ended (else the thread closes it as it ends)."""

    def unsubscribe(self) -> None:
        if self.pubsub_thread:  # type: ignore[attr-defined]
            self.pubsub.unsubscribe()  # type: ignore[attr-defined]
            if stop_thread(self.pubsub_thread):  # type: ignore[attr-defined]
                self.pubsub.close()  # type: ignore[attr-defined]
