"""Schema verdicts on pushed records, spread over worker processes when many pushes
run at once.

Validating a record is the gateway's largest cost per document (about 50 µs for a
home visit with the load plans) and pure Python, so the server's threads share one
interpreter for it. While MIN_CONCURRENT pushes or more are judged at once, a large
push is split over a pool of worker processes (`VALIDATION_WORKERS`, by default one
per core up to four), started on the first such push. One tablet's pushes, small
pushes, and any push while the pool is broken are judged in this process. Either
way the verdict comes from the one function `verdict`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from schemas import (
    COUCHDB_SPECIAL_MEMBERS,
    DocumentInvalid,
    error_messages,
    load_document,
    validate_document,
)
from sync.documents import dump_json, load_json

MIN_PARALLEL = 32  # fewer records are judged here: a round trip to the pool costs ~1 ms
# A push judged while few others are, is judged here: its thread has the interpreter
# (nearly) to itself, and waiting for the workers' parts made one tablet's push slower
# (bench_gateway; a replicator keeps two batches in flight). With more pushes at once,
# their threads would queue on the interpreter lock: the pool.
MIN_CONCURRENT = 3
PARTS_PER_WORKER = 3
MIN_PART = 16
DEFAULT_MAX_WORKERS = 4
# What no verdict reads, so it never crosses to a worker (attachment data can be large).
_NOT_SENT = COUCHDB_SPECIAL_MEMBERS - {"_deleted"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """What the schemas say of one pushed document."""

    place: object  # the record's place as validated (a place code string when valid)
    problems: tuple[str, ...]  # bilingual "path: message" lines; empty means valid


def verdict(doc: Mapping) -> Verdict:
    """Validate one pushed document: a record is loaded (upgraded and checked), a
    tombstone with a body has its id checked and keeps the place it was sent with."""
    try:
        checked = validate_document(doc) if doc.get("_deleted") is True else load_document(doc)
    except DocumentInvalid as exc:
        return Verdict(None, tuple(f"{p}: {m}" for p, m in error_messages(exc.errors)))
    return Verdict(checked.get("place"), ())


def _verdicts(docs: list[Mapping]) -> list[Verdict]:
    return [verdict(doc) for doc in docs]


def _verdicts_of_json(texts: list[str]) -> list[Verdict]:
    """A worker's part: documents cross as JSON text, which costs a fraction of pickling
    their dicts (both ends would otherwise spend as long on pickle as on the schemas)."""
    return [verdict(load_json(text.encode("utf-8"))) for text in texts]  # type: ignore[arg-type]


def default_workers() -> int:
    return min(DEFAULT_MAX_WORKERS, os.cpu_count() or 1)


class Validator:
    """Verdicts for a batch of documents, in worker processes when it is large and other
    pushes are being judged too."""

    def __init__(
        self, workers: int, min_parallel: int = MIN_PARALLEL, min_concurrent: int = MIN_CONCURRENT
    ) -> None:
        if workers < 0:
            raise ValueError("VALIDATION_WORKERS must be 0 (judge in the server) or more")
        self.workers = workers
        self.min_parallel = max(1, min_parallel)
        self.min_concurrent = max(1, min_concurrent)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._judging = 0  # batches being judged right now, by any thread

    def verdicts(self, docs: list[Mapping]) -> list[Verdict]:
        return [v for part in self.verdict_parts(docs) for v in part]

    def verdict_parts(self, docs: list[Mapping]) -> Iterator[list[Verdict]]:
        """The verdicts on `docs`, in order, in consecutive parts as they are ready, so
        the caller can act on one part while the workers judge the next."""
        with self._lock:
            self._judging += 1
            busy = self._judging >= self.min_concurrent
        try:
            if self.workers == 0 or len(docs) < self.min_parallel or not busy:
                yield _verdicts(docs)
            else:
                yield from self._pooled_parts(docs)
        finally:
            with self._lock:
                self._judging -= 1

    def _pooled_parts(self, docs: list[Mapping]) -> Iterator[list[Verdict]]:
        try:
            sent = [dump_json({k: v for k, v in doc.items() if k not in _NOT_SENT}) for doc in docs]
        except (TypeError, ValueError):  # not plain JSON after all: judged here
            yield _verdicts(docs)
            return
        # Several parts per worker: the first is ready early, and a worker that finishes
        # early takes another.
        size = max(MIN_PART, -(-len(sent) // (PARTS_PER_WORKER * self.workers)))
        parts = [sent[start : start + size] for start in range(0, len(sent), size)]
        done = 0
        pool = self._started()
        try:
            for part in pool.map(_verdicts_of_json, parts):
                yield part
                done += len(part)
        except (BrokenProcessPool, CancelledError, RuntimeError, OSError) as exc:
            # A worker died (killed, out of memory), or another request found the pool
            # broken and shut it down: judge the rest here, start afresh next time.
            log.warning("validation pool broke (%s); judging in the server", type(exc).__name__)
            self._discard(pool)
            yield _verdicts(docs[done:])

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the server has threads (waitress), and a forked child
                # would inherit their locks in whatever state they were.
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        """Forget `broken`, unless another request already replaced it."""
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
