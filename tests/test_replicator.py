"""The replicator between every kind of store, checkpoints, filters and failures."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from support.fault_proxy import FakeSleep, Fault, FaultPlan, FaultProxy
from support.replicas import couch_store, fill, replicated, rev, snapshot, sqlite_store

from sync import Store
from sync.checkpoint import start_seq
from sync.couch_store import CouchStore
from sync.http_client import RetryPolicy
from sync.replicator import ReplicationResult, place_scope_selector, replicate, sync

Factory = Callable[[str], Store]


@pytest.fixture
def make_sqlite(tmp_path: Path) -> Factory:
    return lambda name: sqlite_store(tmp_path, name)


@pytest.fixture
def make_couch(couch_url: str) -> Factory:
    return lambda name: couch_store(couch_url, name)


@pytest.mark.parametrize("kinds", ["sqlite>sqlite", "sqlite>couch", "couch>sqlite", "couch>couch"])
def test_replication_in_every_direction(
    kinds: str, make_sqlite: Factory, make_couch: Factory
) -> None:
    make = {"sqlite": make_sqlite, "couch": make_couch}
    source_kind, target_kind = kinds.split(">")
    with make[source_kind]("source") as source, make[target_kind]("target") as target:
        fill(source)
        result = replicate(source, target, batch_size=50)
        assert result.ok, result.failures
        assert result.docs_written == result.missing_found > 120
        assert snapshot(target) == snapshot(source)
        assert target.get_attachment("water:1", "spring.jpg").data == "水源照片".encode() * 300
        again = replicate(source, target, batch_size=50)
        assert (again.docs_read, again.docs_written, again.batches) == (0, 0, 0)


def test_three_hops_end_identical(make_sqlite: Factory, make_couch: Factory) -> None:
    with (
        make_sqlite("tablet") as tablet,
        make_sqlite("hub") as hub,
        make_couch("server") as server,
        make_sqlite("hub2") as hub2,
        make_sqlite("tablet2") as tablet2,
    ):
        fill(tablet)
        # the second tablet edits the same household offline: a conflict across hops
        tablet2.bulk_docs(
            [replicated("household:a", [rev(2, "e"), rev(1, "a")], size=5)], new_edits=False
        )
        chain = [tablet, hub, server, hub2, tablet2]
        for _ in range(2):  # there and back again
            for a, b in zip(chain, chain[1:], strict=False):
                sync(a, b, batch_size=40)
            chain.reverse()
        first = snapshot(tablet)
        winner, live_conflicts, deleted_conflicts = first["household:a"][:3]
        assert winner == rev(2, "e")  # the second tablet's edit wins everywhere...
        assert live_conflicts == [rev(2, "a"), rev(2, "b")]  # ...and nothing is lost
        assert deleted_conflicts == [rev(3, "c")]
        for store in chain:
            assert snapshot(store) == first


def test_incremental_replication_resumes_from_the_checkpoint(make_sqlite: Factory) -> None:
    with make_sqlite("a") as source, make_sqlite("b") as target:
        fill(source)
        first = replicate(source, target, batch_size=30)
        assert start_seq(source, target, first.replication_id) == first.last_seq
        source.bulk_docs([{"_id": f"late:{i}"} for i in range(7)])
        second = replicate(source, target, batch_size=30)
        assert second.start_seq == first.last_seq
        assert (second.docs_read, second.docs_written, second.batches) == (7, 7, 1)


def test_a_checkpoint_lost_on_one_side_falls_back_to_the_shared_history(
    make_sqlite: Factory,
) -> None:
    with make_sqlite("a") as source, make_sqlite("b") as target:
        source.bulk_docs([{"_id": f"d{i}"} for i in range(10)])
        first = replicate(source, target)
        source.bulk_docs([{"_id": f"e{i}"} for i in range(10)])
        # the target's checkpoint is from `first`; the source's from a later session
        saved = target.get_local(first.replication_id)
        replicate(source, target)
        target.put_local({**saved, "_rev": target.get_local(first.replication_id)["_rev"]})
        assert start_seq(source, target, first.replication_id) == first.last_seq
        third = replicate(source, target)
        assert third.missing_found == 0 and third.docs_read == 0


def test_filters(make_sqlite: Factory) -> None:
    with (
        make_sqlite("a") as source,
        make_sqlite("b") as by_ids,
        make_sqlite("c") as by_scope,
        make_sqlite("d") as by_selector,
    ):
        fill(source)
        replicate(source, by_ids, doc_ids=["visit:005", "water:1", "nobody"])
        assert sorted(snapshot(by_ids)) == ["visit:005", "water:1"]
        replicate(source, by_scope, place_scope=["422827100201"])
        held = snapshot(by_scope)
        assert "water:1" not in held and "visit:005" in held
        assert "visit:001" in held  # a tombstone that kept its place replicates in scope
        replicate(source, by_selector, selector={"i": {"$gte": 100}})
        assert set(snapshot(by_selector)) == {f"visit:{i:03d}" for i in [0, *range(100, 120)]}


def test_place_scope_needs_codes() -> None:
    assert place_scope_selector(["4228", "4228"]) == {"$or": [{"place": {"$regex": "^4228"}}]}
    with pytest.raises(ValueError):
        place_scope_selector([])
    with pytest.raises(ValueError):
        place_scope_selector([".*"])


def test_refused_documents_are_listed_and_the_rest_arrive(tmp_path: Path) -> None:
    from sync import SqliteStore

    with (
        sqlite_store(tmp_path, "a") as source,
        SqliteStore(tmp_path / "small.sqlite", max_doc_bytes=2000) as target,
    ):
        source.bulk_docs([{"_id": f"ok{i}", "v": i} for i in range(20)])
        source.put({"_id": "huge", "text": "长" * 5000})
        result = replicate(source, target, batch_size=8)
        assert not result.ok and result.doc_write_failures == 1
        assert [f["id"] for f in result.failures] == ["huge"]
        assert result.failures[0]["error"] == "too_large"
        assert result.docs_written == 20


def test_progress_is_reported_per_batch(make_sqlite: Factory) -> None:
    seen: list[tuple[int, int]] = []

    def progress(result: ReplicationResult) -> None:
        seen.append((result.batches, result.docs_written))

    with make_sqlite("a") as source, make_sqlite("b") as target:
        source.bulk_docs([{"_id": f"d{i:03d}"} for i in range(95)])
        replicate(source, target, batch_size=20, progress=progress)
    assert seen == [(1, 20), (2, 40), (3, 60), (4, 80), (5, 95)]


def test_a_failing_write_stops_every_stage_and_keeps_the_last_checkpoint(
    make_sqlite: Factory,
) -> None:
    """The stages read ahead in threads; an error in the write raises to the caller, no
    stage thread outlives the call, and the next run resumes after the last batch written."""

    class Refusing:
        """Wraps the target: its third write fails as a dropped link would."""

        def __init__(self, store: Store) -> None:
            self.store, self.writes = store, 0

        def __getattr__(self, name: str) -> object:
            return getattr(self.store, name)

        def prepare_bulk_docs(self, docs: list[dict], *, new_edits: bool = True):  # noqa: ANN201
            write = self.store.prepare_bulk_docs(docs, new_edits=new_edits)

            def failing() -> list[dict]:
                self.writes += 1
                if self.writes == 3:
                    raise ConnectionError("link dropped")
                return write()

            return failing

    with make_sqlite("source") as source, make_sqlite("target") as target:
        fill(source)
        before = {t.ident for t in threading.enumerate()}
        with pytest.raises(ConnectionError):
            replicate(source, Refusing(target), batch_size=20)  # type: ignore[arg-type]
        assert [t for t in threading.enumerate() if t.ident not in before] == []
        rows = list(source.changes(style="all_docs"))
        resumed = replicate(source, target, batch_size=20)
        # Two batches of 20 changes were written and checkpointed: only the rest is read again.
        assert resumed.start_seq == rows[39]["seq"]
        assert resumed.missing_checked == sum(len(row["changes"]) for row in rows[40:])
        assert snapshot(target) == snapshot(source)


def test_after_a_failed_write_no_stage_starts_more_work(make_sqlite: Factory) -> None:
    """When the write fails, the stages reading ahead stop where they are: the stage
    reading changes finishes the call it is in and starts no other (each stage's wait
    on the one before it ends at once, instead of pulling one more batch through)."""

    class SlowChanges:
        """Wraps the source: each changes call takes a while and is counted."""

        def __init__(self, store: Store) -> None:
            self.store, self.calls = store, 0

        def __getattr__(self, name: str) -> object:
            return getattr(self.store, name)

        def changes(self, **kwargs: object):  # noqa: ANN201
            self.calls += 1
            time.sleep(0.3)
            return self.store.changes(**kwargs)

    class FailingTarget:
        def __init__(self, store: Store) -> None:
            self.store = store

        def __getattr__(self, name: str) -> object:
            return getattr(self.store, name)

        def prepare_bulk_docs(self, docs: list[dict], *, new_edits: bool = True):  # noqa: ANN201
            def fail() -> list[dict]:
                raise ConnectionError("link dropped")

            return fail

    with make_sqlite("source") as source, make_sqlite("target") as target:
        fill(source)
        slow = SlowChanges(source)
        with pytest.raises(ConnectionError):
            replicate(slow, FailingTarget(target), batch_size=20)  # type: ignore[arg-type]
        # The first batch's call, and the one in flight when the write failed.
        assert slow.calls == 2


def test_a_flaky_link_is_retried_with_backoff_on_the_policys_clock(
    make_sqlite: Factory, couch_url: str
) -> None:
    """Five failed answers on the way (a 500, a dropped answer after the write landed, a
    cut body...), each retried after the default policy's backoff: up to 0.2, 0.4, 0.8 s
    and so on, seconds a fake sleep records instead of waiting them out."""
    slept = FakeSleep()
    steps = [
        Fault("status_500"),
        Fault("forward_then_500"),
        None,
        Fault("truncate"),
        Fault("status_500"),
        Fault("drop_response"),
    ]
    plan = FaultPlan.script(steps, only_paths=r"_bulk_docs|_revs_diff")
    with (
        make_sqlite("source") as source,
        FaultProxy(upstream=couch_url, plan=plan) as proxy,
        CouchStore(
            f"{proxy.url}/flaky-{uuid.uuid4().hex[:8]}",
            create=True,
            retry=RetryPolicy(sleep=slept),
        ) as target,
    ):
        fill(source)
        result = replicate(source, target, batch_size=50)
        assert result.ok and snapshot(target) == snapshot(source)
        assert len(proxy.faults) == 5 == len(slept.delays)
        policy = RetryPolicy()
        assert all(0 <= delay <= policy.base_delay * 4 for delay in slept.delays)
        target.http.request("DELETE")
