"""Replication over a link that drops, cuts, delays and fails: nothing lost or doubled.

The fault proxy (tests/fault_proxy.py) sits between our replicator and the
test server, on loopback; faults are bounded in count, delays in time.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from support.fault_proxy import FakeSleep, Fault, FaultPlan, FaultProxy
from support.replicas import snapshot, sqlite_store

from server.demo_county import home_visits
from sync.couch_store import CouchStore
from sync.errors import PeerUnavailable
from sync.http_client import RetryPolicy
from sync.replicator import WRITES_IN_FLIGHT, ReplicationResult, replicate

# The default policy's tries and backoff, waited on a fake clock: the faults stay real.
SLEPT = FakeSleep()
FAST_RETRY = RetryPolicy(attempts=6, sleep=SLEPT)


def through(proxy: FaultProxy, db_name: str) -> CouchStore:
    return CouchStore(f"{proxy.url}/{db_name}", create=True, retry=FAST_RETRY, timeout=(5.0, 30.0))


def replicate_until_done(source, target, batch_size: int, tries: int = 30) -> list:
    """Run replications until one finishes, as a tablet retrying in the field would."""
    runs = []
    for _ in range(tries):
        try:
            runs.append(replicate(source, target, batch_size=batch_size))
            return runs
        except PeerUnavailable:
            continue  # the link was down for every retry: resume from the checkpoint
    pytest.fail(f"replication did not finish in {tries} tries")


@pytest.mark.slow
def test_5000_documents_arrive_complete_through_100_faults(tmp_path: Path, couch_url: str) -> None:
    total = 5000
    db_name = f"faults-{uuid.uuid4().hex[:10]}"
    plan = FaultPlan(
        seed=20261122,
        rate=0.3,
        max_faults=100,
        kinds=(
            "drop_request",
            "drop_response",
            "status_500",
            "forward_then_500",
            "truncate",
            "delay",
        ),
        delay_ms=(10, 200),
    )
    with (
        sqlite_store(tmp_path, "tablet") as tablet,
        sqlite_store(tmp_path, "hub") as hub,
        FaultProxy(upstream=couch_url, plan=plan) as proxy,
    ):
        tablet.bulk_docs(list(home_visits(total, seed=11)))
        with through(proxy, db_name) as server:
            pushed = replicate_until_done(tablet, server, batch_size=100)
            pulled = replicate_until_done(server, hub, batch_size=100)
        with CouchStore(f"{couch_url}/{db_name}") as direct:
            assert direct.info()["doc_count"] == total
            expected = snapshot(tablet)
            assert snapshot(direct) == expected
            assert snapshot(hub) == expected
            # no duplicate revisions: every document is one unconflicted revision
            assert all(
                len(leaves) == 1 and not conflicts
                for _, conflicts, _, leaves, _ in expected.values()
            )
            direct.http.request("DELETE")
    assert len(proxy.faults) == 100  # every fault was injected, of every kind
    assert {fault.kind for fault in proxy.faults} == set(plan.kinds)
    assert all(run.ok for run in pushed + pulled)


def test_a_resumed_replication_resends_only_what_did_not_land(
    tmp_path: Path, couch_url: str
) -> None:
    total, batch = 1000, 100
    db_name = f"resume-{uuid.uuid4().hex[:10]}"
    # Five batches go through; the sixth (and the seventh, in flight with it) is written
    # upstream but its answer is lost, and so is every retry: the link is gone until the
    # tablet tries again later.
    steps = [None] * 5 + [Fault("forward_then_500")] * FAST_RETRY.attempts * WRITES_IN_FLIGHT
    plan = FaultPlan.script(steps, only_paths=r"_bulk_docs")
    with (
        sqlite_store(tmp_path, "tablet") as tablet,
        FaultProxy(upstream=couch_url, plan=plan) as proxy,
    ):
        tablet.bulk_docs(list(home_visits(total, seed=5)))
        progress: list[ReplicationResult] = []
        with through(proxy, db_name) as server:
            with pytest.raises(PeerUnavailable):
                replicate(tablet, server, batch_size=batch, progress=lambda r: progress.append(r))
            checkpointed = progress[-1].docs_written
            assert checkpointed == 5 * batch
            resumed = replicate(tablet, server, batch_size=batch)
            assert resumed.start_seq == progress[-1].last_seq
            assert resumed.missing_checked <= total - checkpointed  # nothing before it again
            assert resumed.docs_read <= total - checkpointed - batch  # the 6th had landed
            assert server.info()["doc_count"] == total
            assert snapshot(server) == snapshot(tablet)
            server.http.request("DELETE")


def test_a_413_halves_the_batch_until_the_oversize_document_stands_alone(
    tmp_path: Path, couch_url: str
) -> None:
    """CouchDB refuses request bodies over max_http_request_size with 413. PouchDB's
    replicator retries the same batch forever; ours halves it, and reports the one
    document that is too large on its own as a failure."""
    db_name = f"too-large-{uuid.uuid4().hex[:10]}"
    with (
        sqlite_store(tmp_path, "tablet") as tablet,
        FaultProxy(upstream=couch_url, max_body_bytes=60_000) as proxy,
    ):
        docs = list(home_visits(300, seed=9))
        docs[137]["photo_notes"] = "照片说明" * 20_000  # ~240 KB of JSON, alone over the limit
        tablet.bulk_docs(docs)
        with CouchStore(f"{proxy.url}/{db_name}", create=True, compress=False) as server:
            result = replicate(tablet, server, batch_size=100)
            assert [f["id"] for f in result.failures] == [docs[137]["_id"]]
            assert result.failures[0]["error"] == "too_large"
            assert result.docs_written == 299
            assert server.info()["doc_count"] == 299
            assert any(entry.status == 413 for entry in proxy.log)
            server.http.request("DELETE")


def test_a_checkpoint_whose_answer_was_lost_is_not_written_again(
    tmp_path: Path, couch_url: str
) -> None:
    """A checkpoint PUT lands but its answer is lost: the retried PUT conflicts with the
    revision it made itself. Re-reading shows this very checkpoint, so it is done; it is
    not written again, which could lose its answer once more, and again."""
    db_name = f"checkpoint-{uuid.uuid4().hex[:10]}"
    lost = Fault("forward_then_500")
    # _local requests: the first read; then per checkpoint a read, the PUT (answer lost),
    # its retry (409) and the re-read.
    steps = [None] + [None, lost, None, None] * 3
    plan = FaultPlan.script(steps, only_paths=r"_local")
    with (
        sqlite_store(tmp_path, "tablet") as tablet,
        FaultProxy(upstream=couch_url, plan=plan) as proxy,
    ):
        tablet.bulk_docs(list(home_visits(300, seed=13)))
        with through(proxy, db_name) as server:
            result = replicate(tablet, server, batch_size=100)
            assert result.ok and result.docs_written == 300
            assert sum(fault.kind == "forward_then_500" for fault in proxy.faults) == 3
            checkpoint = server.get_local(result.replication_id)
            assert checkpoint["source_last_seq"] == result.last_seq
            server.http.request("DELETE")
