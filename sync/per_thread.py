"""One resource per thread, for things threads must not share (sqlite3 connections,
`requests` sessions), closed once their thread is gone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerThread(Generic[T]):
    """`get()` gives the calling thread its own resource, made on first use. Making one
    closes those of threads that have ended (a replication starts threads of its own
    each time, so a long-lived process would otherwise pile them up); `close_all()`
    closes every one."""

    def __init__(self, make: Callable[[], T], close: Callable[[T], None]) -> None:
        self._make, self._close = make, close
        self._local = threading.local()
        self._by_thread: dict[int, T] = {}
        self._lock = threading.Lock()

    def get(self) -> T:
        resource = getattr(self._local, "resource", None)
        if resource is None:
            resource = self._make()
            self._local.resource = resource
            me = threading.get_ident()
            with self._lock:
                alive = {thread.ident for thread in threading.enumerate()}
                # A thread's ident may be reused by a later thread: the earlier one's
                # resource, still filed under it, is stale too.
                stale = [i for i in self._by_thread if i not in alive or i == me]
                gone = [self._by_thread.pop(i) for i in stale]
                self._by_thread[me] = resource
            for old in gone:
                self._close(old)
        return resource

    def close_all(self) -> None:
        with self._lock:
            gone = list(self._by_thread.values())
            self._by_thread.clear()
            self._local = threading.local()
        for resource in gone:
            self._close(resource)
