"""PerThread: each thread its own resource, closed once the thread has ended."""

from __future__ import annotations

import itertools
import threading

from sync.per_thread import PerThread


def test_each_thread_keeps_its_own_and_ended_threads_are_closed() -> None:
    counter = itertools.count()
    closed: list[int] = []
    resources = PerThread(lambda: next(counter), closed.append)
    mine = resources.get()
    assert resources.get() == mine  # made once per thread

    got: list[int] = []
    worker = threading.Thread(target=lambda: got.append(resources.get()))
    worker.start()
    worker.join()
    assert got[0] != mine and closed == []  # nothing closed while the thread could run

    later = threading.Thread(target=resources.get)  # making one sweeps the ended ones
    later.start()
    later.join()
    assert got[0] in closed and mine not in closed

    resources.close_all()
    assert mine in closed and len(closed) == 3
    assert resources.get() not in closed  # usable again, with a fresh one
