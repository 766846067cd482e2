"""A worker's end does not wait out its pub/sub thread's minute (workers/pubsub.py).

RQ ends every ``work()`` with ``UNSUBSCRIBE`` and a stop of its pub/sub thread. When that thread reads the
unsubscribe's reply before the stop (the main thread descheduled between the two, as on a loaded machine), it then
waits 60 s for a subscription, and redis-py 8's ``stop()`` waited with it.
"""
from __future__ import annotations

import threading

from redis.client import PubSub, PubSubWorkerThread
from rq import Queue

from workers.main import worker_class_for

from .helpers import BurstWorker, wait_for

#: Far below the thread's 60 s wait, far above the one second the stop waits.
LIMIT_S = 30


def unsubscribed_first(base: type) -> type:
    """``base`` whose stop comes only once its pub/sub thread has read the unsubscribe's reply: the race, every time."""

    class Late(base):  # type: ignore[valid-type, misc]
        def subscribe(self):
            super().subscribe()
            pubsub, send = self.pubsub, self.pubsub.unsubscribe

            def unsubscribe(*args, **kwargs):
                reply = send(*args, **kwargs)
                wait_for(lambda: not pubsub.subscribed, timeout=10)  # the thread read it: it waits for a subscription
                return reply

            pubsub.unsubscribe = unsubscribe

    return Late


def ends_in_time(worker) -> bool:
    """Whether the worker's end of ``work()`` (its unsubscribe, after its subscribe at the start) took at most
    ``LIMIT_S``."""
    worker.subscribe()
    thread = threading.Thread(target=worker.unsubscribe, daemon=True)
    thread.start()
    thread.join(LIMIT_S)
    return not thread.is_alive()


def test_the_apps_worker_ends_without_waiting_out_its_pubsub_thread(services):
    worker_class = unsubscribed_first(worker_class_for("simple"))
    worker = worker_class([Queue("pubsub-test", connection=services.queue.connection)],
                          connection=services.queue.connection)
    assert ends_in_time(worker)


def test_the_tests_burst_worker_ends_as_soon(services):
    worker = unsubscribed_first(BurstWorker)([Queue("pubsub-test", connection=services.queue.connection)],
                                             connection=services.queue.connection)
    assert ends_in_time(worker)


def test_a_pubsub_thread_still_reading_keeps_its_connection_until_it_ends(services, monkeypatch):
    """The thread inside a read of its connection when the stop's second runs out (on a loaded machine: descheduled
    between the unsubscribe's reply arriving and its parse). The worker's end leaves that connection to the thread:
    the pool does not hand it to the next command while the thread reads it (two readers on one socket), and the
    thread puts it back, once, when it ends.

    The unsubscribe goes only once the thread has read the subscribe's reply and waits for the next: a thread told
    to stop before its loop began (it starts running after the worker's end cleared its flag, on a loaded machine)
    never reads at all, and the test waited its 30 s for a read that could not come."""
    pool = services.queue.connection.connection_pool
    listening, reading, resume = threading.Event(), threading.Event(), threading.Event()
    reads: list[object] = []
    start_thread = PubSub.run_in_thread

    def watched(pubsub, *args, **kwargs):
        """The thread's reads of its connection watched from before it starts: the first (the subscribe's reply)
        passes, the next (the unsubscribe's) waits for ``resume``; ``listening`` once it waits for that one."""
        connection = pubsub.connection
        read, can_read = connection.read_response, connection.can_read

        def slow_read(*args, **kwargs):
            if isinstance(threading.current_thread(), PubSubWorkerThread):
                reads.append(None)
                if len(reads) > 1:
                    reading.set()
                    resume.wait(LIMIT_S)
            return read(*args, **kwargs)

        def waiting(*args, **kwargs):
            if isinstance(threading.current_thread(), PubSubWorkerThread) and reads:
                listening.set()
            return can_read(*args, **kwargs)

        connection.read_response, connection.can_read = slow_read, waiting
        return start_thread(pubsub, *args, **kwargs)

    monkeypatch.setattr(PubSub, "run_in_thread", watched)
    worker = BurstWorker([Queue("pubsub-test", connection=services.queue.connection)],
                         connection=services.queue.connection)
    worker.subscribe()
    thread, held = worker.pubsub_thread, worker.pubsub.connection
    assert listening.wait(LIMIT_S)  # in its loop, past the subscribe's reply
    ending = threading.Thread(target=worker.unsubscribe, daemon=True)
    ending.start()
    assert reading.wait(LIMIT_S)  # the unsubscribe's reply came; the thread is in its read
    ending.join(LIMIT_S)
    assert not ending.is_alive() and thread.is_alive()  # the worker ended without waiting out the thread
    taken = [pool.get_connection() for _ in range(3)]  # what the next commands would use
    try:
        assert held not in taken and held.is_connected
    finally:
        for connection in taken:
            pool.release(connection)
    resume.set()
    wait_for(lambda: not thread.is_alive(), timeout=LIMIT_S)
    assert worker.pubsub.connection is None  # the thread closed it
    assert [c for c in pool._available_connections if c is held] == [held]  # back in the pool, once
    assert services.queue.connection.echo("after") == b"after"
