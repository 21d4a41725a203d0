"""The conflict driver and the domain merge rules, on real stores."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.replicas import couch_store, snapshot, sqlite_store

from schemas import validate_document
from schemas.merge import merge_home_visit, merge_patrol, merge_water_source, resolver_for
from server.demo_county import DemoCounty
from sync import Store
from sync.conflicts import resolve_conflicts
from sync.replicator import replicate, sync


@pytest.fixture
def county() -> DemoCounty:
    return DemoCounty(seed=7)


def visit(county: DemoCounty) -> dict:
    village = county.villages[0]
    doc = county.home_visit(village, "household:01J3PAHFE0000G40R40M30E209")
    doc["needs"] = [
        {
            "need_id": "need-1",
            "category": "医疗",
            "description": "陪同去县医院复查。",
            "urgency": "normal",
            "status": "open",
        }
    ]
    doc["services"] = ["haircut"]
    doc["volunteers"] = ["user:a"]
    return validate_document(doc)


def offline_edits(first: Store, second: Store, base: dict) -> str:
    """Both tablets hold `base`; each edits it without signal; they meet again."""
    rev = first.put(base)
    replicate(first, second)
    a = {
        **base,
        "_rev": rev,
        "services": ["haircut", "cleaning"],
        "volunteers": ["user:a"],
        "updated_at": "2024-09-01T10:00:00+08:00",
        "needs": [{**base["needs"][0], "status": "in_progress"}],
    }
    b = {
        **base,
        "_rev": rev,
        "services": ["medicine"],
        "volunteers": ["user:b"],
        "updated_at": "2024-09-01T11:00:00+08:00",
        "duration_min": 45,
        "needs": [
            *base["needs"],
            {
                "need_id": "need-2",
                "category": "微心愿",
                "description": "孙子想要一个新书包。",
                "urgency": "low",
                "status": "open",
            },
        ],
    }
    first.put(a)
    second.put(b)
    sync(first, second)
    return base["_id"]


@pytest.fixture
def two_tablets(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    with sqlite_store(tmp_path, "a") as a, sqlite_store(tmp_path, "b") as b:
        yield a, b


def test_offline_home_visit_edits_merge_without_losing_anything(
    two_tablets: tuple[Store, Store], county: DemoCounty
) -> None:
    a, b = two_tablets
    doc_id = offline_edits(a, b, visit(county))
    assert a.get(doc_id, conflicts=True).get("_conflicts")
    result = resolve_conflicts(a, resolver_for)
    assert result.resolved == [doc_id] and not result.failures
    merged = a.get(doc_id, conflicts=True)
    assert "_conflicts" not in merged
    assert merged["services"] == ["cleaning", "haircut", "medicine"]
    assert merged["volunteers"] == ["user:a", "user:b"]
    assert merged["duration_min"] == 45  # the later edit's field
    assert [(n["need_id"], n["status"]) for n in merged["needs"]] == [
        ("need-1", "in_progress"),
        ("need-2", "open"),
    ]  # no need is ever dropped
    validate_document(merged)


def test_two_nodes_resolving_the_same_conflict_agree(
    two_tablets: tuple[Store, Store], county: DemoCounty
) -> None:
    a, b = two_tablets
    doc_id = offline_edits(a, b, visit(county))
    resolve_conflicts(a, resolver_for)
    resolve_conflicts(b, resolver_for)  # at the same time, elsewhere, unaware of `a`
    assert a.get(doc_id)["_rev"] == b.get(doc_id)["_rev"]
    sync(a, b)
    assert "_conflicts" not in a.get(doc_id, conflicts=True)
    assert snapshot(a) == snapshot(b)
    assert resolve_conflicts(a, resolver_for).resolved == []


def test_sqlite_and_couch_resolve_to_the_same_revision(
    tmp_path: Path, couch_url: str, county: DemoCounty
) -> None:
    with (
        sqlite_store(tmp_path, "a") as a,
        sqlite_store(tmp_path, "b") as b,
        couch_store(couch_url, "server") as server,
    ):
        doc_id = offline_edits(a, b, visit(county))
        replicate(a, server)
        resolve_conflicts(a, resolver_for)
        resolve_conflicts(server, resolver_for)
        assert a.get(doc_id)["_rev"] == server.get(doc_id)["_rev"]
        sync(a, server)
        assert "_conflicts" not in server.get(doc_id, conflicts=True)
        assert snapshot(a) == snapshot(server)


def test_a_visit_to_another_household_is_left_for_a_person(
    two_tablets: tuple[Store, Store], county: DemoCounty
) -> None:
    a, b = two_tablets
    base = visit(county)
    rev = a.put(base)
    replicate(a, b)
    a.put({**base, "_rev": rev, "household": "household:01J3PAHFE0000G40R40M30E210"})
    b.put({**base, "_rev": rev, "duration_min": 15})
    sync(a, b)
    result = resolve_conflicts(a, resolver_for)
    assert result.left_for_person == [base["_id"]] and result.resolved == []
    assert len(a.get(base["_id"], conflicts=True)["_conflicts"]) == 1


def test_patrol_keeps_every_incident_and_participant(county: DemoCounty) -> None:
    base = county.patrol(county.villages[3])
    fire = {"kind": "fire", "description": "秸秆焚烧", "resolved": True}
    fraud = {"kind": "fraud", "description": "冒充公安诈骗电话", "resolved": False}
    one = {
        **base,
        "_rev": "2-a",
        "participants": ["user:x"],
        "incidents": [fire],
        "updated_at": "2024-09-02T09:00:00+08:00",
    }
    two = {
        **base,
        "_rev": "2-b",
        "participants": ["user:y"],
        "incidents": [fraud],
        "updated_at": "2024-09-02T08:00:00+08:00",
    }
    merged = merge_patrol(two, [one])
    assert merged["participants"] == ["user:x", "user:y"]
    assert merged["incidents"] == [fire, fraud]
    assert merged["updated_at"] == one["updated_at"]


def test_water_source_keeps_the_most_precise_location(county: DemoCounty) -> None:
    base = county.water_source(county.villages[5])
    rough = {**base, "_rev": "2-a", "location": {"lat": 29.3, "lon": 109.4, "accuracy_m": 50}}
    precise = {
        **base,
        "_rev": "2-b",
        "location": {"lat": 29.31, "lon": 109.41, "accuracy_m": 4},
        "status": "dry",
        "updated_at": "2000-01-01T00:00:00+08:00",
    }
    merged = merge_water_source(rough, [precise])
    assert merged["location"]["accuracy_m"] == 4
    assert merged["status"] == rough["status"]  # the later edit's status


def test_a_record_moved_to_another_place_is_left_for_a_person(county: DemoCounty) -> None:
    base = county.patrol(county.villages[0])
    moved = {**base, "_rev": "2-b", "place": county.villages[1].grids()[0]}
    assert merge_patrol({**base, "_rev": "2-a"}, [moved]) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5), st.randoms(use_true_random=False))
def test_resolvers_do_not_depend_on_the_order_of_losers(count: int, rnd: random.Random) -> None:
    county = DemoCounty(seed=rnd.randint(0, 1000))
    base = county.home_visit(county.villages[0], "household:01J3PAHFE0000G40R40M30E209")
    edits = []
    for n in range(count):
        edits.append(
            {
                **base,
                "_rev": f"2-{n:032x}",
                "services": rnd.sample(["haircut", "cleaning", "medicine"], 2),
                "updated_at": f"2024-09-0{rnd.randint(1, 3)}T10:00:00+08:00",
            }
        )
    winner, losers = edits[0], edits[1:]
    shuffled = list(losers)
    rnd.shuffle(shuffled)
    assert merge_home_visit(winner, losers) == merge_home_visit(winner, shuffled)
