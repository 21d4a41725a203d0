"""Schema verdicts in worker processes: the same verdicts as in the server, in order,
and a pool that breaks costs nothing but time."""

from __future__ import annotations

import gzip
import json
import os
import signal
from pathlib import Path

import pytest
from support.county import OTHER_VILLAGE, VILLAGE, live_county, quarantined, village_records
from support.replicas import sqlite_store

from server.demo_county import DemoCounty, home_visits
from server.gateway.validation import RequestBody, Validator, is_formed, verdict
from sync.couch_store import CouchStore
from sync.replicator import replicate


def mixed_batch() -> list[dict]:
    """Valid records of every field type, invalid ones of several kinds, a version-1 home
    visit that is upgraded, and a tombstone with a body."""
    county = DemoCounty(seed=11)
    village = county.villages[0]
    docs: list[dict] = []
    for _ in range(8):
        household = county.household(village)
        docs += [
            household,
            county.home_visit(village, household["_id"]),
            county.patrol(village),
            county.water_source(village),
        ]
    visits = list(home_visits(6, seed=12))
    docs += [
        {**visits[0], "visited_at": "2024-08-25 09:30"},  # no time zone
        {**visits[1], "duration_min": -5},
        {**visits[2], "place": "not-a-place"},
        {key: value for key, value in visits[3].items() if key != "volunteers"},
        {**visits[4], "unknown_field": "x", "_attachments": {"a.txt": {"data": "aGk="}}},
        {**visits[5], "_deleted": True},
    ]
    v1 = {key: value for key, value in visits[0].items() if key != "visited_at"}
    docs.append(
        {**v1, "schema_version": 1, "visit_time": visits[0]["visited_at"], "services": "理发、打扫"}
    )
    return docs


def test_the_pool_gives_the_verdicts_the_server_would_in_order() -> None:
    docs = mixed_batch()
    expected = [verdict(doc) for doc in docs]
    assert sum(1 for v in expected if v.problems) >= 5  # the batch really mixes both
    validator = Validator(workers=2, min_parallel=1, min_concurrent=1)
    try:
        parts = list(validator.verdict_parts(docs))
        assert len(parts) > 1  # judged in parts, so the gateway can write the first early
        assert [v for part in parts for v in part] == expected
        assert validator._pool is not None
    finally:
        validator.close()


def test_small_batches_and_zero_workers_are_judged_in_the_server() -> None:
    docs = mixed_batch()
    small = Validator(workers=2, min_parallel=len(docs) + 1, min_concurrent=1)
    off = Validator(workers=0, min_parallel=1, min_concurrent=1)
    assert small.verdicts(docs) == off.verdicts(docs) == [verdict(d) for d in docs]
    assert small._pool is None and off._pool is None


def test_a_lone_batch_without_its_body_is_judged_here_and_the_pool_serves_concurrent_ones() -> None:
    docs = mixed_batch()
    expected = [verdict(doc) for doc in docs]
    validator = Validator(workers=2, min_parallel=1, min_concurrent=2)
    try:
        assert validator.verdicts(docs) == expected
        assert validator._pool is None  # alone: no round trips to worker processes
        first = validator.verdict_parts(docs)
        next(first)  # one batch is being judged (its caller writes its first part) ...
        assert validator.verdicts(docs) == expected  # ... when a second arrives
        assert validator._pool is not None
        first.close()
        assert validator._judging == 0
    finally:
        validator.close()


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_lone_push_is_judged_by_one_worker_from_its_request_body(gzipped: bool) -> None:
    """Alone, a push is judged whole by a worker from the request body as it arrived:
    here the body's documents differ from those handed over (of a version that does
    not exist), so the verdicts show what was judged. Malformed entries are skipped, as the gateway
    skips them."""
    docs = mixed_batch()
    sent: list[object] = [{**doc, "schema_version": 99} for doc in docs]
    sent[3:3] = [5, {"no": "id"}]
    data = json.dumps({"docs": sent, "new_edits": False}).encode("utf-8")
    body = RequestBody(gzip.compress(data) if gzipped else data, gzipped)
    validator = Validator(workers=2, min_parallel=1, min_concurrent=2)
    try:
        (part,) = validator.verdict_parts(docs, body)
        assert part == [verdict(doc) for doc in sent if is_formed(doc)]
        assert part != [verdict(doc) for doc in docs]
        assert validator._pool is not None
        assert len(validator._pool._processes) == 2  # noqa: SLF001 - all started at once
    finally:
        validator.close()


def test_a_body_that_does_not_hold_the_documents_is_not_trusted() -> None:
    docs = mixed_batch()
    data = json.dumps({"docs": docs[:-1]}).encode("utf-8")
    validator = Validator(workers=2, min_parallel=1, min_concurrent=2)
    try:
        assert validator.verdicts(docs) == [verdict(doc) for doc in docs]
        (part,) = validator.verdict_parts(docs, RequestBody(data, gzipped=False))
        assert part == [verdict(doc) for doc in docs]
    finally:
        validator.close()


def test_a_lone_push_whose_worker_is_killed_is_judged_here_and_the_pool_restarts() -> None:
    docs = mixed_batch()
    body = RequestBody(json.dumps({"docs": docs}).encode("utf-8"), gzipped=False)
    expected = [verdict(doc) for doc in docs]
    validator = Validator(workers=2, min_parallel=1, min_concurrent=2)
    try:
        assert validator.verdicts(docs) == expected  # no body: judged here, no pool
        (part,) = validator.verdict_parts(docs, body)
        assert part == expected
        pool = validator._pool
        assert pool is not None
        for pid in list(pool._processes):  # noqa: SLF001 - the only way to reach a worker
            os.kill(pid, signal.SIGKILL)
        (part,) = validator.verdict_parts(docs, body)
        assert part == expected  # judged here after the break
        (part,) = validator.verdict_parts(docs, body)
        assert part == expected  # and by a fresh pool after that
        assert validator._pool is not None and validator._pool is not pool
    finally:
        validator.close()


def test_an_error_in_a_worker_is_judged_here_and_the_pool_kept() -> None:
    """A task that fails on its own (here a body said to be gzipped that is not) costs
    the push nothing but time, and the other pushes keep their pool."""
    docs = mixed_batch()
    validator = Validator(workers=2, min_parallel=1, min_concurrent=2)
    try:
        (part,) = validator.verdict_parts(docs, RequestBody(b'{"docs": []}', gzipped=True))
        assert part == [verdict(doc) for doc in docs]
        pool = validator._pool
        assert pool is not None
        (part,) = validator.verdict_parts(docs, RequestBody(b"not json", gzipped=False))
        assert part == [verdict(doc) for doc in docs]
        assert validator._pool is pool
    finally:
        validator.close()


def test_a_killed_worker_falls_back_to_the_server_and_the_pool_restarts() -> None:
    docs = mixed_batch()
    expected = [verdict(doc) for doc in docs]
    validator = Validator(workers=2, min_parallel=1, min_concurrent=1)
    try:
        assert validator.verdicts(docs) == expected  # starts the pool
        pool = validator._pool
        assert pool is not None
        for pid in list(pool._processes):  # noqa: SLF001 - the only way to reach a worker
            os.kill(pid, signal.SIGKILL)
        assert validator.verdicts(docs) == expected  # judged here after the break
        assert validator.verdicts(docs) == expected  # and by a fresh pool after that
        assert validator._pool is not None and validator._pool is not pool
    finally:
        validator.close()


@pytest.mark.parametrize("min_concurrent", [1, 3])
def test_a_large_push_through_the_gateway_is_judged_by_the_workers(
    tmp_path: Path, couch_url: str, min_concurrent: int
) -> None:
    """The gateway end to end with two workers: a push of more documents than
    MIN_PARALLEL lands the valid ones and quarantines the invalid ones, as a small push
    judged in the server does (test_gateway.py); in parts (every push counts as busy)
    and whole, from the gzipped request body (the default: one tablet alone)."""
    good = village_records(VILLAGE, rounds=20, seed=5, author="wangfang")  # 60 records
    visits = [
        d
        for d in village_records(VILLAGE, rounds=4, seed=6, author="wangfang")
        if d["type"] == "home_visit"
    ]
    bad = [
        {**visits[0], "visited_at": "2024-08-25 09:30"},
        {**visits[1], "place": OTHER_VILLAGE + "001"},
        {**visits[2], "duration_min": 0},
    ]
    with (
        live_county(
            tmp_path / "county",
            couch_url,
            VALIDATION_WORKERS=2,
            VALIDATION_MIN_CONCURRENT=min_concurrent,
        ) as county,
        sqlite_store(tmp_path, "tablet") as tablet,
    ):
        county.add_user("wangfang", "volunteer", VILLAGE)
        tablet.bulk_docs(good + bad)
        with CouchStore(county.db_url("wangfang")) as gateway:
            pushed = replicate(tablet, gateway, batch_size=200)
        assert county.app.extensions["fieldsync"].validator._pool is not None
        assert pushed.docs_written == len(good)
        assert sorted(f["id"] for f in pushed.failures) == sorted(d["_id"] for d in bad)
        assert sorted(q[0] for q in quarantined(county)) == sorted(d["_id"] for d in bad)
        store = county.app.extensions["fieldsync"].store
        assert all(store.get(d["_id"])["_rev"] == tablet.get(d["_id"])["_rev"] for d in good)


def test_a_request_that_finds_its_pool_broken_leaves_a_newer_pool_alone() -> None:
    """Two requests on one broken pool: the second to notice must not shut down the
    fresh pool a third request has started meanwhile."""
    docs = mixed_batch()
    validator = Validator(workers=2, min_parallel=1, min_concurrent=1)
    try:
        validator.verdicts(docs)
        broken = validator._pool
        assert broken is not None
        validator._discard(broken)  # the first request to notice
        fresh = validator._started()  # a third request starts a new pool
        validator._discard(broken)  # the second request to notice, late
        assert validator._pool is fresh
        assert validator.verdicts(docs) == [verdict(d) for d in docs]
    finally:
        validator.close()
