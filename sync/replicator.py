"""One replicator between any two stores, by the CouchDB replication protocol.

    changes (since checkpoint) > revs_diff > bulk_get (with ancestry and the
    attachments the target lacks) > bulk_docs new_edits=false > checkpoint

Only the public `Store` API is used, so SQLite to SQLite, SQLite to CouchDB
and CouchDB to SQLite run the same code. Every step is idempotent: a batch
re-sent after a dropped link or a restart writes nothing twice. A document the
target refuses (forbidden, invalid) is counted and listed in the result, never
fatal; the checkpoint moves past it as CouchDB's replicator does, so the
refusing side must keep what it refused (the server's quarantine does).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from queue import Empty, Full, Queue
from typing import TypeVar

from .checkpoint import Checkpointer, replication_id
from .store import Seq, Store

T = TypeVar("T")
DEFAULT_BATCH_SIZE = 500  # measured: 30-40% faster than 100, peak memory still ~45 MB
# Batches being written at once. CouchDB's replicator keeps several writers busy too:
# the target works on one batch while the next is on its way (or being judged, at the
# county gateway), instead of waiting for each answer and checkpoint in turn.
WRITES_IN_FLIGHT = 2


@dataclass
class ReplicationResult:
    """What one replication did; `failures` lists every document not written."""

    replication_id: str
    start_seq: Seq
    last_seq: Seq = None
    docs_read: int = 0
    docs_written: int = 0
    doc_write_failures: int = 0
    missing_checked: int = 0
    missing_found: int = 0
    batches: int = 0
    failures: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.doc_write_failures == 0

    def counters(self) -> dict[str, int]:
        return {
            "docs_read": self.docs_read,
            "docs_written": self.docs_written,
            "doc_write_failures": self.doc_write_failures,
            "missing_checked": self.missing_checked,
            "missing_found": self.missing_found,
        }


Progress = Callable[[ReplicationResult], None]


def place_scope_selector(prefixes: Iterable[str], field_name: str = "place") -> dict:
    """A selector for documents whose `field_name` starts with one of `prefixes`
    (place codes are prefix-hierarchical: a township's code begins its villages')."""
    prefixes = sorted(set(prefixes))
    if not prefixes or not all(p.isalnum() for p in prefixes):
        raise ValueError("place scope needs one or more alphanumeric place codes")
    return {"$or": [{field_name: {"$regex": f"^{prefix}"}} for prefix in prefixes]}


def replicate(
    source: Store,
    target: Store,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    doc_ids: Iterable[str] | None = None,
    selector: Mapping | None = None,
    place_scope: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> ReplicationResult:
    """Copy to `target` every revision of `source` it lacks, resuming from the last
    checkpoint both sides share. Filters: `doc_ids`, a Mango `selector`, and a
    `place_scope` (place-code prefixes); they combine with AND."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ids = sorted(set(doc_ids)) if doc_ids is not None else None
    selectors = [
        s
        for s in (selector, place_scope_selector(place_scope) if place_scope is not None else None)
        if s
    ]
    combined = selectors[0] if len(selectors) == 1 else ({"$and": selectors} if selectors else None)
    rep_id = replication_id(source, target, {"doc_ids": ids, "selector": combined})
    checkpointer = Checkpointer(source, target, rep_id)
    result = ReplicationResult(rep_id, checkpointer.start_seq, last_seq=checkpointer.start_seq)
    # One thread per stage (changes, revs_diff, bulk_get, encoding), each a batch ahead of
    # the next, and up to WRITES_IN_FLIGHT batches being written: both ends and both
    # directions of the link stay busy instead of taking turns. Whatever order the writes
    # finish in, this thread settles them in order: a checkpoint never passes a batch
    # that is not written (after a failure, the next run writes again what followed it;
    # writing a revision twice changes nothing).
    with ExitStack() as stages:  # on an error too, every stage's thread is stopped
        cancel = threading.Event()  # set first on the way out: no stage waits for another

        def stage(batches: Iterator[_Batch]) -> Iterator[_Batch]:
            return stages.enter_context(closing(read_ahead(batches, depth=1, cancel=cancel)))

        feed = stage(_change_batches(source, checkpointer.start_seq, batch_size, ids, combined))
        diffed = stage(_with_missing(target, batch) for batch in feed)
        fetched = stage(_with_revisions(source, batch) for batch in diffed)
        prepared = stage(_with_write(target, batch) for batch in fetched)
        writers = ThreadPoolExecutor(WRITES_IN_FLIGHT, thread_name_prefix="replication-write")
        stages.callback(writers.shutdown, wait=True, cancel_futures=True)
        stages.callback(cancel.set)  # last registered, so run first
        in_flight: deque[tuple[_Batch, Future | None]] = deque()

        def write(batch: _Batch) -> list[dict]:
            try:
                return batch.write()  # type: ignore[misc]
            except BaseException:
                cancel.set()  # the stages stop at once, as when this thread fails
                raise

        def settle() -> None:
            batch, writing = in_flight.popleft()
            if batch.rows:
                _count(batch, writing.result() if writing else [], result)
            if batch.last_seq != result.last_seq:
                result.last_seq = batch.last_seq
                checkpointer.record(batch.last_seq, result.counters())
            if progress:
                progress(result)

        for batch in prepared:
            if cancel.is_set():
                break  # a write failed: settling it below raises its error
            in_flight.append((batch, writers.submit(write, batch) if batch.write else None))
            while len(in_flight) >= WRITES_IN_FLIGHT:
                settle()
        while in_flight:
            settle()
    return result


@dataclass
class _Batch:
    rows: list[dict]  # changes read
    last_seq: Seq
    wanted: list[dict] = field(default_factory=list)  # bulk_get requests for what is missing
    docs: list[dict] = field(default_factory=list)  # the missing revisions, with history
    gone: list[dict] = field(default_factory=list)  # revisions the source no longer had
    write: Callable[[], list[dict]] | None = None  # the target's prepared bulk_docs


def _change_batches(
    source: Store,
    since: Seq,
    batch_size: int,
    ids: list[str] | None,
    selector: Mapping | None,
) -> Iterator[_Batch]:
    while True:
        feed = source.changes(
            since=since, limit=batch_size, style="all_docs", doc_ids=ids, selector=selector
        )
        rows = list(feed)
        yield _Batch(rows, feed.last_seq)
        since = feed.last_seq
        if len(rows) < batch_size:
            return


def _with_missing(target: Store, batch: _Batch) -> _Batch:
    if batch.rows:
        revs = {row["id"]: [change["rev"] for change in row["changes"]] for row in batch.rows}
        batch.wanted = [
            {"id": doc_id, "rev": rev, "atts_since": entry.get("possible_ancestors", [])}
            for doc_id, entry in target.revs_diff(revs).items()
            for rev in entry["missing"]
        ]
    return batch


def _with_revisions(source: Store, batch: _Batch) -> _Batch:
    if batch.wanted:
        for answer in source.bulk_get(batch.wanted, revs=True, attachments=True):
            for item in answer["docs"]:
                if "ok" in item:
                    batch.docs.append(item["ok"])
                else:  # gone from the source since the changes feed listed it
                    batch.gone.append({"id": answer["id"], **item["error"]})
    return batch


def _with_write(target: Store, batch: _Batch) -> _Batch:
    if batch.docs:
        batch.write = target.prepare_bulk_docs(batch.docs, new_edits=False)
    return batch


def _count(batch: _Batch, failed: list[dict], result: ReplicationResult) -> None:
    """Add a written batch to the result; `failed`: the documents the target refused."""
    result.batches += 1
    result.missing_checked += sum(len(row["changes"]) for row in batch.rows)
    result.missing_found += len(batch.wanted)
    result.failures.extend(batch.gone)
    result.doc_write_failures += len(batch.gone)
    result.docs_read += len(batch.docs)
    result.failures.extend(failed)
    result.doc_write_failures += len(failed)
    result.docs_written += len(batch.docs) - len(failed)


_END = object()
POLL_SECONDS = 0.1  # how often a waiting stage looks at its stop and cancel flags


def read_ahead(
    items: Iterator[T], depth: int = 2, cancel: threading.Event | None = None
) -> Iterator[T]:
    """Produce `items` in a thread, up to `depth` ahead of the consumer. An exception
    in the producer is raised in the consumer; a consumer that stops stops the producer.
    `cancel`, once set, ends the wait of a consumer (a later stage's thread) at once."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    cancel = cancel or threading.Event()

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                queue.put(item, timeout=POLL_SECONDS)
                return
            except Full:
                continue

    def produce() -> None:
        try:
            try:
                for item in items:
                    put(item)
                    if stop.is_set():
                        return
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                put(exc)
            finally:
                close = getattr(items, "close", None)
                if close is not None:  # a generator's own clean-up runs in its own thread
                    close()
        finally:
            put(_END)

    thread = threading.Thread(target=produce, name="replication-stage", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = queue.get(timeout=POLL_SECONDS)
            except Empty:
                if cancel.is_set():
                    return
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def sync(
    a: Store,
    b: Store,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    doc_ids: Iterable[str] | None = None,
    selector: Mapping | None = None,
    place_scope: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> tuple[ReplicationResult, ReplicationResult]:
    """Both ways: `a` to `b`, then `b` to `a`, with the same filters each way."""
    doc_ids = list(doc_ids) if doc_ids is not None else None
    place_scope = list(place_scope) if place_scope is not None else None
    results = tuple(
        replicate(
            src,
            dst,
            batch_size=batch_size,
            doc_ids=doc_ids,
            selector=selector,
            place_scope=place_scope,
            progress=progress,
        )
        for src, dst in ((a, b), (b, a))
    )
    return results  # type: ignore[return-value]
