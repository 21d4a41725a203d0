"""Load that cannot flood the field: refusals are bounded per push and per device, a
flood is refused whole with a clear 413 or 429 and kept as one summary, and a user's
rejection notices never outgrow what a tablet holds."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.county import VILLAGE, County, county_store, live_county, quarantined, village_records

from schemas.rejection_notice import notice_id
from server.gateway.quarantine import overflow_notice_id
from server.services import services
from sync.couch_store import CouchStore
from sync.errors import NotFound
from sync.replicator import replicate
from sync.sqlite_store import SqliteStore

GRID = VILLAGE + "001"


@pytest.fixture(params=["embedded", "couchdb"])
def bounded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[County]:
    """A county with small bounds: 5 refusals a push, 8 a device an hour, 3 notices a user."""
    couch_url = request.getfixturevalue("couch_url") if request.param == "couchdb" else None
    with live_county(
        tmp_path / "county",
        couch_url,
        MAX_BULK_DOCS=500,
        MAX_REFUSALS_PER_PUSH=5,
        REFUSALS_PER_HOUR=8,
        MAX_NOTICES_PER_USER=3,
    ) as county:
        county.add_user("wangfang", "volunteer", VILLAGE)
        yield county


def invalid(count: int, seed: int = 1) -> list[dict]:
    """`count` patrols by wangfang that the schemas refuse: their start lost its time zone
    (the demo's times are in +08:00, which puts it back)."""
    docs = []
    while len(docs) < count:
        seed += 1
        for doc in village_records(VILLAGE, 3, seed=seed, author="wangfang"):
            if doc["type"] == "patrol" and len(docs) < count:
                docs.append({**doc, "started_at": doc["started_at"].removesuffix("+08:00")})
    return docs


def push(county: County, docs: list[dict], **headers: str) -> requests.Response:
    return county.session("wangfang").post(
        f"{county.url}/db/_bulk_docs", json={"docs": docs}, headers=headers, timeout=60
    )


def summaries(county: County) -> list[tuple[str, int, int, int]]:
    with county.app.app_context():
        services().ledger_index.catch_up()  # the summaries are ledger documents, indexed
    with county.app.app_context(), services().db.read() as conn:
        return conn.execute(
            "SELECT username, documents, refused, status FROM refused_pushes ORDER BY id"
        ).fetchall()


def notices_of(county: County) -> list[dict]:
    return [
        row["doc"]
        for row in county_store(county).changes(include_docs=True)
        if row["id"].startswith("rejection_notice:") and not row.get("deleted")
    ]


def test_a_flood_of_tiny_invalid_documents_is_refused_whole_at_once(county: County) -> None:
    """Found: one 16 MB `_bulk_docs` of 100,000 tiny invalid documents took 45 s and left
    100,000 quarantine rows and 100,000 rejection notices to replicate to the village."""
    county.add_user("wangfang", "volunteer", VILLAGE)
    tiny = [{"_id": f"patrol:x{n}", "type": "patrol"} for n in range(100_000)]
    body = gzip.compress(json.dumps({"docs": tiny}).encode())
    started = time.monotonic()
    answer = county.session("wangfang").post(
        f"{county.url}/db/_bulk_docs",
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        timeout=120,
    )
    took = time.monotonic() - started
    assert answer.status_code == 413, answer.text[:300]
    assert answer.json()["error"] == "too_large" and "10000" in answer.json()["reason"]
    assert quarantined(county) == [] and notices_of(county) == []
    # Within the size bound, a push refusing more than a push may is refused whole.
    answer = county.session("wangfang").post(
        f"{county.url}/db/_bulk_docs", json={"docs": tiny[:5_000]}, timeout=120
    )
    assert answer.status_code == 413, answer.text[:300]
    assert "5000" in answer.json()["reason"] and "100" in answer.json()["reason"]
    assert quarantined(county) == [] and notices_of(county) == []
    assert summaries(county) == [("wangfang", 5_000, 5_000, 413)]
    county.add_user("chen", "county_staff", VILLAGE[:6])
    (listed,) = (
        county.session("chen").get(f"{county.url}/staff/refused-pushes", timeout=30).json()["items"]
    )
    assert (listed["pushed_by"], listed["refused"], listed["status"]) == ("wangfang", 5_000, 413)
    assert listed["reasons"][0]["count"] == 5_000 and listed["reasons"][0]["zh"]
    assert took < 60  # not a timing target: a hung server would never answer at all


def test_a_push_past_its_refusals_is_refused_whole_and_nothing_of_it_written(
    bounded: County,
) -> None:
    good = village_records(VILLAGE, 1, seed=50, author="wangfang")
    answer = push(bounded, good + invalid(6))
    assert answer.status_code == 413 and answer.json()["error"] == "too_large", answer.text
    for doc in good:
        with pytest.raises(NotFound):
            county_store(bounded).get(doc["_id"])
    assert quarantined(bounded) == [] and notices_of(bounded) == []
    assert summaries(bounded) == [("wangfang", 9, 6, 413)]
    # Five refusals are what one push may leave: kept one by one, the rest written.
    answer = push(bounded, good + invalid(5, seed=20))
    assert answer.status_code == 201
    assert [row.get("error") for row in answer.json()] == [None] * 3 + ["forbidden"] * 5


def test_a_device_past_its_refusals_for_the_hour_is_told_when_to_come_back(
    bounded: County,
) -> None:
    assert push(bounded, invalid(5, seed=30)).status_code == 201
    good = village_records(VILLAGE, 1, seed=51, author="wangfang")
    answer = push(bounded, good + invalid(4, seed=40))
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"] == "too_many_requests"
    assert "安全" in answer.json()["reason"] and "safe on the device" in answer.json()["reason"]
    assert 60 <= int(answer.headers["Retry-After"]) <= 3600
    for doc in good:
        with pytest.raises(NotFound):
            county_store(bounded).get(doc["_id"])
    assert len(quarantined(bounded)) == 5
    assert summaries(bounded)[-1] == ("wangfang", 7, 4, 429)
    # Another device of the same user has its own hour; and good work goes through.
    assert push(bounded, invalid(3, seed=60), **{"X-Fieldsync-Device": "tablet-b"}).ok
    assert push(bounded, good).status_code == 201


def test_a_users_notices_stop_at_the_cap_and_one_notice_counts_the_rest(
    bounded: County,
) -> None:
    refused = invalid(5, seed=70)
    for doc in refused:  # one refusal a push, as a live sync sends them
        assert push(bounded, [doc]).status_code == 201
    notices = {n["_id"]: n for n in notices_of(bounded)}
    overflow = notices.pop(overflow_notice_id("wangfang"))
    assert set(notices) == {notice_id(doc["_id"]) for doc in refused[:3]}
    assert "2" in overflow["reasons"][0] and "ask the station lead" in overflow["reasons"][0]
    assert len(quarantined(bounded)) == 5  # every refusal is kept for review all the same
    # Corrected, the records settle their notices; the count goes with the last one.
    for doc in refused[:3]:
        fixed = {**doc, "started_at": doc["started_at"] + "+08:00"}
        assert push(bounded, [fixed]).json()[0].get("ok")
    assert notices_of(bounded) == []


def test_our_replicator_gets_a_flood_through_in_smaller_batches(
    bounded: County, tmp_path: Path
) -> None:
    """A 413 for too many refusals halves our replicator's batch until each part fits:
    every refusal is kept and listed, every good record written."""
    good = village_records(VILLAGE, 2, seed=80, author="wangfang")
    bad = invalid(7, seed=90)
    with (
        SqliteStore(tmp_path / "tablet.sqlite") as tablet,
        CouchStore(bounded.db_url("wangfang")) as gateway,
    ):
        tablet.bulk_docs(good + bad)
        result = replicate(tablet, gateway, batch_size=50)
    assert sorted(f["id"] for f in result.failures) == sorted(d["_id"] for d in bad)
    assert result.docs_written == len(good)
    assert sorted(doc_id for doc_id, _ in quarantined(bounded)) == sorted(d["_id"] for d in bad)
