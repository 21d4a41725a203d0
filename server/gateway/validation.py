"""Schema verdicts on pushed records, in worker processes for large pushes.

Validating a record is the gateway's largest cost per document (about 50 µs for a
home visit with the load plans) and pure Python, so the server's threads share one
interpreter for it. A large push is judged in a pool of worker processes
(`VALIDATION_WORKERS`, by default one per core up to four, all started on the first
such push):

- while fewer than MIN_CONCURRENT pushes are judged at once (one tablet's pushes),
  a push is judged by one worker from its request body as it arrived: nothing is
  encoded again to cross over, and the server's thread goes on meanwhile (the
  scope index catches up);
- with more at once, a push is split into parts over the workers, each part
  written as soon as it is judged.

Small pushes, pushes with no request body to hand over, and any push the pool
fails (a worker died or erred, or a body that does not hold the documents, never
expected) are judged in this process. Either way the verdict comes from the one
function `verdict`.
"""

from __future__ import annotations

import gzip
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import CancelledError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from schemas import (
    COUCHDB_SPECIAL_MEMBERS,
    DocumentInvalid,
    error_messages,
    load_document,
    located,
    validate_document,
)
from sync.documents import dump_json, load_json

MIN_PARALLEL = 32  # fewer records are judged here: a round trip to the pool costs ~1 ms
# A push judged while few others are (a replicator keeps two batches in flight) goes to
# one worker whole: split into parts, each written on its own, one tablet's push was
# slower than in the server (bench_gateway). With more pushes at once, parts spread
# each push over the workers.
MIN_CONCURRENT = 3
PARTS_PER_WORKER = 3
MIN_PART = 16
DEFAULT_MAX_WORKERS = 4
# What no verdict reads, so it never crosses to a worker in a part (attachment data can
# be large; a lone push's body crosses whole, as it arrived).
_NOT_SENT = COUCHDB_SPECIAL_MEMBERS - {"_deleted"}

WORKERS_START_SECONDS = 60  # the first large push waits this long at most for them

log = logging.getLogger(__name__)
# A task's failure that is the pool's: a worker died, or another request shut it down.
_POOL_FAILED = (BrokenProcessPool, CancelledError)
# A task not even submitted: the pool is shut down, or a worker could not be started.
_NOT_SUBMITTED = (RuntimeError, OSError)


@dataclass(frozen=True)
class RequestBody:
    """A push's `_bulk_docs` request body as it arrived, already read and checked by the
    server (size, gzip, JSON): what a worker judges a lone push from."""

    data: bytes
    gzipped: bool


def is_formed(doc: object) -> bool:
    """A pushed document the schemas judge: an object with a string `_id` (any other
    entry of a push gets a bad_request row of its own)."""
    return isinstance(doc, dict) and isinstance(doc.get("_id"), str)


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
        return Verdict(None, tuple(located(p, m) for p, m in error_messages(exc.errors)))
    return Verdict(checked.get("place"), ())


def _verdicts(docs: list[Mapping]) -> list[Verdict]:
    return [verdict(doc) for doc in docs]


def _verdicts_of_json(texts: list[str]) -> list[Verdict]:
    """A worker's part: documents cross as JSON text, which costs a fraction of pickling
    their dicts (both ends would otherwise spend as long on pickle as on the schemas)."""
    return [verdict(load_json(text.encode("utf-8"))) for text in texts]  # type: ignore[arg-type]


def _verdicts_of_body(body: RequestBody) -> list[Verdict]:
    """A worker's whole lone push: the verdicts on its formed documents, in order."""
    data = gzip.decompress(body.data) if body.gzipped else body.data
    docs = load_json(data)["docs"]  # type: ignore[index]
    return _verdicts([doc for doc in docs if is_formed(doc)])


def _ready() -> int:
    return os.getpid()


def default_workers() -> int:
    return min(DEFAULT_MAX_WORKERS, os.cpu_count() or 1)


class Validator:
    """Verdicts for a batch of documents, in worker processes when it is large: whole by
    one worker from its request body while few pushes are judged at once, in parts over
    the workers while more are."""

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

    def verdicts(self, docs: list[Mapping], body: RequestBody | None = None) -> list[Verdict]:
        """The verdicts on `docs`, in order (`body`: as for `verdict_parts`)."""
        return [v for part in self.verdict_parts(docs, body) for v in part]

    def verdict_parts(
        self, docs: list[Mapping], body: RequestBody | None = None
    ) -> Iterator[list[Verdict]]:
        """The verdicts on `docs`, in order, in consecutive parts as they are ready, so
        the caller can act on one part while the workers judge the next. `body`: the
        request `docs` are the formed documents of, for a worker to judge them from."""
        with self._lock:
            self._judging += 1
            busy = self._judging >= self.min_concurrent
        try:
            if self.workers == 0 or len(docs) < self.min_parallel:
                yield _verdicts(docs)
            elif busy:
                yield from self._pooled_parts(docs)
            else:
                yield self._whole(docs, body)
        finally:
            with self._lock:
                self._judging -= 1

    def _whole(self, docs: list[Mapping], body: RequestBody | None) -> list[Verdict]:
        """A lone push's verdicts, by one worker from its request body."""
        if body is None:
            return _verdicts(docs)
        pool = self._started()
        try:
            judging = pool.submit(_verdicts_of_body, body)
        except _NOT_SUBMITTED as exc:
            self._broke(pool, exc)
            return _verdicts(docs)
        try:
            verdicts = judging.result()
        except Exception as exc:  # noqa: BLE001 - whatever failed there, judged here
            self._failed(pool, exc)
            return _verdicts(docs)
        # Never expected: the body is what `docs` were read from. Judged here if not.
        return verdicts if len(verdicts) == len(docs) else _verdicts(docs)

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
        pool = self._started()
        try:
            judged = pool.map(_verdicts_of_json, parts)  # every part submitted now
        except _NOT_SUBMITTED as exc:
            self._broke(pool, exc)
            yield _verdicts(docs)
            return
        done = 0
        try:
            for part in judged:
                yield part
                done += len(part)
        except Exception as exc:  # noqa: BLE001 - whatever failed there, judged here
            self._failed(pool, exc)
            yield _verdicts(docs[done:])

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is not None:
                return self._pool
            # spawn, not fork: the server has threads (waitress), and a forked child
            # would inherit their locks in whatever state they were.
            pool = self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
            # All of them now: the executor starts one per task submitted while none is
            # idle, which would otherwise start the second amid a tablet's push.
            try:
                starting = [pool.submit(_ready) for _ in range(self.workers)]
            except _NOT_SUBMITTED:
                starting = []  # the push's own task meets it again, and is judged here
        wait(starting, timeout=WORKERS_START_SECONDS)  # other pushes go on meanwhile
        return pool

    def _failed(self, pool: ProcessPoolExecutor, exc: BaseException) -> None:
        """A task failed: with the pool (a worker died, it was shut down), or on its own
        (an error in the worker, which keeps serving); the caller judges in the server."""
        if isinstance(exc, _POOL_FAILED):
            self._broke(pool, exc)
        else:
            log.warning(
                "a validation worker failed (%s); judging in the server", type(exc).__name__
            )

    def _broke(self, broken: ProcessPoolExecutor, exc: BaseException) -> None:
        """The pool failed: forget it (the next push starts afresh)."""
        log.warning("validation pool broke (%s); judging in the server", type(exc).__name__)
        self._discard(broken)

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
