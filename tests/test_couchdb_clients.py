"""Standard CouchDB clients against `/db`, on both backends: couchdb-python (the
`couchdb` package) and python-cloudant, through the everyday operations: info, count,
read, write, bulk update, the changes feed (cloudant's feed readers included) and find.

Before, `GET /db` answered 308 with HTML, so couchdb-python's `db.info()` and `len(db)`
failed and python-cloudant's `exists()` was false; `_changes` was written on one line,
so cloudant's feed reader yielded nothing; `_find` was a 405.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import couchdb
import pytest
from support.county import OTHER_VILLAGE, PASSWORD, VILLAGE, County, county_store
from support.standard_clients import CloudantClient, authored, ids_in_scope, module_county

from server.demo_county import DemoCounty

USER = "tian"


@dataclass
class Gateway:
    county: County
    demo: DemoCounty

    def record(self, kind: str = "patrol") -> dict:
        village = next(v for v in self.demo.villages if v.code == VILLAGE)
        return authored(getattr(self.demo, kind)(village), USER)

    def in_scope(self) -> set[str]:
        return ids_in_scope(self.county, VILLAGE)


@pytest.fixture(scope="module", params=["embedded", "couchdb"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    with module_county(request, tmp_path_factory.mktemp("county")) as county:
        county.add_user(USER, "station_lead", VILLAGE)
        demo = DemoCounty(seed=41)
        village = next(v for v in demo.villages if v.code == VILLAGE)
        elsewhere = next(v for v in demo.villages if v.code == OTHER_VILLAGE)
        seeded = [demo.patrol(village) for _ in range(6)] + [demo.patrol(elsewhere)]
        household = demo.household(village)
        seeded += [household, demo.home_visit(village, household["_id"])]
        assert all(row.get("ok") for row in county_store(county).bulk_docs(seeded))
        yield Gateway(county, demo)


@pytest.fixture
def python_db(gateway: Gateway) -> couchdb.Database:
    host = gateway.county.url.removeprefix("http://")
    return couchdb.Server(f"http://{USER}:{PASSWORD}@{host}")["db"]


@pytest.fixture
def cloudant_db(gateway: Gateway) -> Iterator:
    client = CloudantClient(USER, PASSWORD, url=gateway.county.url, connect=True)
    try:
        yield client["db"]
    finally:
        client.disconnect()


# -- couchdb-python ------------------------------------------------------------------------


def test_couchdb_python_info_and_len(gateway: Gateway, python_db: couchdb.Database) -> None:
    expected = len(gateway.in_scope())
    assert python_db.info()["doc_count"] == expected
    assert len(python_db) == expected
    assert "db" in python_db.resource.url


def test_couchdb_python_reads_writes_and_updates_in_bulk(
    gateway: Gateway, python_db: couchdb.Database
) -> None:
    doc_id, rev = python_db.save(gateway.record())
    assert python_db[doc_id]["_rev"] == rev and python_db[doc_id]["author"] == f"user:{USER}"
    assert doc_id in python_db
    hidden = next(iter(ids_in_scope(gateway.county, OTHER_VILLAGE)))
    assert python_db.get(hidden) is None and hidden not in python_db
    fresh = [gateway.record() for _ in range(3)]
    created = python_db.update(fresh)
    assert all(ok for ok, _, _ in created), created
    edited = [{**python_db[i], "zone": "白岩村责任区9"} for _, i, _ in created]
    updated = python_db.update(edited)
    assert all(ok for ok, _, _ in updated), updated
    assert {python_db[i]["zone"] for _, i, _ in created} == {"白岩村责任区9"}


def test_couchdb_python_changes_and_find(gateway: Gateway, python_db: couchdb.Database) -> None:
    changes = python_db.changes(style="all_docs")
    assert {row["id"] for row in changes["results"]} == gateway.in_scope()
    assert changes["pending"] == 0
    since = changes["last_seq"]
    rows = list(python_db.changes(feed="continuous", since=0, timeout=200))
    assert {row["id"] for row in rows if "id" in row} == gateway.in_scope()
    patrols = list(python_db.find({"selector": {"type": "patrol"}, "limit": 1000}))
    assert {doc.id for doc in patrols} == {i for i in gateway.in_scope() if i.startswith("patrol:")}
    assert python_db.changes(since=since)["results"] == []


# -- python-cloudant -----------------------------------------------------------------------


def test_cloudant_sees_the_database_and_counts_it(gateway: Gateway, cloudant_db) -> None:  # noqa: ANN001
    assert cloudant_db.exists()
    assert cloudant_db.doc_count() == len(gateway.in_scope())
    assert cloudant_db.metadata()["db_name"] == "db"
    assert cloudant_db.client.all_dbs() == ["db"]


def test_cloudant_reads_writes_and_updates_in_bulk(gateway: Gateway, cloudant_db) -> None:  # noqa: ANN001
    created = cloudant_db.create_document(gateway.record(), throw_on_exists=True)
    assert created.exists()
    fetched = cloudant_db[created["_id"]]
    assert fetched["_rev"] == created["_rev"]
    fetched["zone"] = "白岩村责任区7"
    fetched.save()
    assert cloudant_db[created["_id"]]["zone"] == "白岩村责任区7"
    fresh = [gateway.record() for _ in range(3)]
    rows = cloudant_db.bulk_docs(fresh)
    assert all(row.get("ok") for row in rows), rows
    listed = {row["id"] for row in cloudant_db.all_docs()["rows"]}
    assert {d["_id"] for d in fresh} <= listed == gateway.in_scope()


def test_cloudant_reads_the_changes_feed(gateway: Gateway, cloudant_db) -> None:  # noqa: ANN001
    ids = [row["id"] for row in cloudant_db.changes(style="all_docs")]
    assert set(ids) == gateway.in_scope() and len(ids) == len(set(ids))
    continuous = [r for r in cloudant_db.changes(feed="continuous", timeout=200) if r]
    assert {r["id"] for r in continuous} == gateway.in_scope()


def test_cloudants_infinite_feed_follows_new_writes(gateway: Gateway, cloudant_db) -> None:  # noqa: ANN001
    latest = cloudant_db.metadata()["update_seq"]
    record = gateway.record()
    feed = cloudant_db.infinite_changes(since=latest, timeout=300)
    seen: list[str] = []

    def follow() -> None:
        for change in feed:
            if change and "id" in change:
                seen.append(change["id"])
                if change["id"] == record["_id"]:
                    feed.stop()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    threading.Timer(0.8, lambda: county_store(gateway.county).bulk_docs([record])).start()
    reader.join(timeout=20)
    feed.stop()
    assert record["_id"] in seen  # reconnected after each timeout, then saw the write


def test_cloudant_finds_with_a_query(gateway: Gateway, cloudant_db) -> None:  # noqa: ANN001
    result = cloudant_db.get_query_result(
        {"type": "patrol"}, fields=["_id", "type"], raw_result=True, limit=1000
    )
    assert {d["_id"] for d in result["docs"]} == {
        i for i in gateway.in_scope() if i.startswith("patrol:")
    }
    assert all(set(d) == {"_id", "type"} for d in result["docs"])
    visits = cloudant_db.get_query_result({"type": "home_visit"}, raw_result=True)["docs"]
    assert visits and all(v["place"].startswith(VILLAGE) for v in visits)
