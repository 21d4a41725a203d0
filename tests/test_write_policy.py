"""The write policy through `/db/`, one rule at a time, on both backends: who may author,
change and delete which record, what approval closes, and how references are checked.

The whole table of roles, types, authors, operations, scope and approval is in
tests/test_write_policy_matrix.py; these tests pin down the findings that led to it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from support.county import (
    OTHER_VILLAGE,
    VILLAGE,
    County,
    county_store,
    logged,
    quarantined,
    village_records,
)

from schemas.rejection_notice import notice_id
from server.demo_county import recorded_by
from server.services import services
from sync.errors import NotFound
from sync.http_client import quote_id

GRID = VILLAGE + "001"
APPROVAL = {"state": "approved", "by": "user:chen", "at": "2024-09-01T10:00:00+08:00"}


@pytest.fixture
def village(county: County) -> Iterator[County]:
    """A county with two villages' reference data and their people: volunteers wangfang
    and lihua and station lead laoli of the first village, volunteer zhang of the
    other, county staff chen."""
    county.add_places(VILLAGE, OTHER_VILLAGE)
    for username, role, scope in (
        ("wangfang", "volunteer", VILLAGE),
        ("lihua", "volunteer", VILLAGE),
        ("laoli", "station_lead", VILLAGE),
        ("zhang", "volunteer", OTHER_VILLAGE),
        ("chen", "county_staff", VILLAGE[:6]),
    ):
        county.add_user(username, role, scope)
    yield county


def patrol(author: str, *, seed: int = 1, taking_part: list[str] | None = None) -> dict:
    return recorded_by(
        village_records(VILLAGE, 1, seed=seed)[2:3], author, taking_part=taking_part
    )[0]


def push(county: County, username: str, docs: list[dict]) -> list[dict]:
    answer = county.session(username).post(
        f"{county.url}/db/_bulk_docs", json={"docs": docs}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def put(county: County, username: str, doc: dict) -> requests.Response:
    return county.session(username).put(
        f"{county.url}/db/{quote_id(doc['_id'])}", json=doc, timeout=30
    )


def stored(county: County, doc: dict) -> dict:
    """`doc` written straight into the county store, as it stands there."""
    (row,) = county_store(county).bulk_docs([doc])
    assert row.get("ok"), row
    return county_store(county).get(doc["_id"])


def test_a_volunteer_may_not_author_records_for_someone_else_or_nobody(
    village: County,
) -> None:
    """Found: records with `author` set to another user or to nobody were accepted."""
    for_lihua, for_nobody, own = (
        patrol("lihua", seed=2),
        patrol("ghost", seed=3),
        patrol("wangfang", seed=4),
    )
    rows = push(village, "wangfang", [for_lihua, for_nobody, own])
    assert [row.get("error") for row in rows] == ["forbidden", "forbidden", None]
    assert "user:wangfang" in rows[0]["reason"] and "author" in rows[0]["reason"]
    assert "user:wangfang" in rows[1]["reason"]
    assert county_store(village).get(own["_id"])["author"] == "user:wangfang"
    for refused in (for_lihua, for_nobody):
        with pytest.raises(NotFound):
            county_store(village).get(refused["_id"])
        assert (refused["_id"], "wangfang") in quarantined(village)
        notice = county_store(village).get(notice_id(refused["_id"]))
        assert notice["pushed_by"] == "wangfang"


def test_a_reference_to_another_villages_station_is_refused(village: County) -> None:
    """Found: a record naming the station of another village was accepted."""
    doc = {**patrol("wangfang", seed=5), "station": f"station:{OTHER_VILLAGE}"}
    (row,) = push(village, "wangfang", [doc])
    assert row["error"] == "forbidden"
    assert f"station:{OTHER_VILLAGE}" in row["reason"] and "station" in row["reason"]


def test_a_visit_to_a_household_not_seen_yet_is_accepted_and_listed_until_it_arrives(
    village: County,
) -> None:
    """Found: a visit to a household that does not exist was accepted unremarked. Offline
    work arrives in any order, so it is still accepted, and county staff see it listed
    until the household arrives (from another tablet)."""
    household, visit, _ = village_records(VILLAGE, 1, seed=6, author="wangfang")
    (row,) = push(village, "wangfang", [visit])
    assert row.get("ok"), row
    staff = village.session("chen")
    listed = staff.get(f"{village.url}/staff/unresolved", timeout=30).json()["items"]
    assert [(item["doc_id"], item["field"], item["ref_id"]) for item in listed] == [
        (visit["_id"], "household", household["_id"])
    ]
    assert listed[0]["pushed_by"] == "wangfang" and listed[0]["rev"] == row["rev"]
    # Not for a volunteer's eyes; and another household's arrival settles nothing.
    assert village.session("wangfang").get(f"{village.url}/staff/unresolved").status_code == 403
    (other,) = recorded_by(village_records(VILLAGE, 1, seed=7)[:1], "lihua")
    push(village, "lihua", [other])
    assert len(staff.get(f"{village.url}/staff/unresolved", timeout=30).json()["items"]) == 1
    (arrived,) = push(village, "lihua", [{**household, "author": "user:lihua"}])
    assert arrived.get("ok"), arrived
    village.session("wangfang").get(f"{village.url}/db/", timeout=30)  # the index reads it
    assert staff.get(f"{village.url}/staff/unresolved", timeout=30).json()["items"] == []


def test_a_household_of_another_village_is_refused(village: County) -> None:
    theirs = stored(village, recorded_by(village_records(OTHER_VILLAGE, 1, seed=8)[:1], "zhang")[0])
    visit = {**village_records(VILLAGE, 1, seed=9, author="wangfang")[1]}
    visit["household"] = theirs["_id"]
    (row,) = push(village, "wangfang", [visit])
    assert row["error"] == "forbidden" and theirs["_id"] in row["reason"]


def test_a_volunteer_may_not_delete_another_volunteers_patrol(village: County) -> None:
    """Found: a volunteer deleted another volunteer's patrol in the same village; it was
    accepted, not quarantined and not logged as a refusal."""
    theirs = stored(village, patrol("lihua", seed=10))
    answer = village.session("wangfang").delete(
        f"{village.url}/db/{quote_id(theirs['_id'])}", params={"rev": theirs["_rev"]}, timeout=30
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "forbidden" and "author" in answer.json()["reason"]
    assert county_store(village).get(theirs["_id"]) == theirs
    assert (theirs["_id"], "wangfang") in quarantined(village)
    assert [outcome for _, outcome in logged(village, theirs["_id"])] == ["quarantined"]
    assert county_store(village).get(notice_id(theirs["_id"]))["pushed_by"] == "wangfang"
    # Its author, a participant and the village's station lead may.
    shared = stored(village, patrol("lihua", seed=11, taking_part=["lihua", "wangfang"]))
    for who, doc in (("lihua", theirs), ("wangfang", shared)):
        answer = village.session(who).delete(
            f"{village.url}/db/{quote_id(doc['_id'])}", params={"rev": doc["_rev"]}, timeout=30
        )
        assert answer.status_code == 201, (who, answer.text)
    led = stored(village, patrol("lihua", seed=12))
    answer = village.session("laoli").delete(
        f"{village.url}/db/{quote_id(led['_id'])}", params={"rev": led["_rev"]}, timeout=30
    )
    assert answer.status_code == 201, answer.text


def test_a_station_lead_forwards_the_volunteers_records_of_the_station_only(
    village: County,
) -> None:
    """What a hub does: the lead pushes records their volunteers made, authors kept."""
    theirs, outsider = (
        patrol("wangfang", seed=13),
        recorded_by(village_records(OTHER_VILLAGE, 1, seed=14)[2:3], "zhang")[0],
    )
    outsider = {**outsider, "place": GRID, "team": f"team:{VILLAGE}"}
    outsider["station"] = f"station:{VILLAGE}"
    rows = push(village, "laoli", [theirs, outsider])
    assert rows[0].get("ok") and county_store(village).get(theirs["_id"])["author"] == (
        "user:wangfang"
    )
    assert rows[1]["error"] == "forbidden" and "user:zhang" in rows[1]["reason"]
    # A volunteer may not do the same for a fellow volunteer.
    (row,) = push(village, "lihua", [patrol("wangfang", seed=15)])
    assert row["error"] == "forbidden"


def test_everyone_taking_part_must_belong_to_the_records_team_or_station(
    village: County,
) -> None:
    doc = patrol("wangfang", seed=16, taking_part=["wangfang", "zhang"])
    (row,) = push(village, "wangfang", [doc])
    assert row["error"] == "forbidden" and "user:zhang" in row["reason"]
    ghost = patrol("wangfang", seed=17, taking_part=["wangfang", "ghost"])
    (row,) = push(village, "wangfang", [ghost])
    assert row["error"] == "forbidden" and "user:ghost" in row["reason"]


def test_an_approved_record_is_closed_to_the_field_but_not_to_county_staff(
    village: County,
) -> None:
    doc = stored(village, patrol("wangfang", seed=18))
    approved = put(village, "chen", {**doc, "review": APPROVAL})
    assert approved.status_code == 201, approved.text
    current = county_store(village).get(doc["_id"])
    for who in ("wangfang", "laoli"):
        answer = put(village, who, {**current, "zone": "改过的责任区"})
        assert answer.status_code == 403 and "approved" in answer.json()["reason"], answer.text
        gone = village.session(who).delete(
            f"{village.url}/db/{quote_id(doc['_id'])}", params={"rev": current["_rev"]}
        )
        assert gone.status_code == 403 and "approved" in gone.json()["reason"]
    assert county_store(village).get(doc["_id"]) == current
    corrected = put(village, "chen", {**current, "zone": "县里更正的责任区"})
    assert corrected.status_code == 201, corrected.text


def test_an_edit_keeps_the_author(village: County) -> None:
    doc = stored(village, patrol("wangfang", seed=19))
    answer = put(village, "wangfang", {**doc, "author": "user:lihua"})
    assert answer.status_code == 403 and "author" in answer.json()["reason"]
    answer = put(village, "chen", {**doc, "author": "user:chen"})
    assert answer.status_code == 403 and "author" in answer.json()["reason"]


def test_a_household_is_shared_by_the_field_roles_of_its_place(village: County) -> None:
    household = stored(village, recorded_by(village_records(VILLAGE, 1, seed=20)[:1], "lihua")[0])
    answer = put(village, "wangfang", {**household, "size": household["size"] + 1})
    assert answer.status_code == 201, answer.text
    answer = put(village, "zhang", {**household, "size": 9})
    assert answer.status_code == 403


def test_the_english_half_of_a_refusal_names_the_field(village: County) -> None:
    """Found: "Missing data for required field." where the Chinese half said
    `started_at: 缺少必填字段。`."""
    doc = patrol("wangfang", seed=21)
    del doc["started_at"]
    (row,) = push(village, "wangfang", [doc])
    assert row["reason"] == (
        "started_at: 缺少必填字段。 / started_at: Missing data for required field."
    )


def test_a_household_and_its_visit_in_one_push_leave_nothing_unresolved(
    village: County,
) -> None:
    household, visit, _ = village_records(VILLAGE, 1, seed=22, author="wangfang")
    rows = push(village, "wangfang", [visit, household])
    assert all(row.get("ok") for row in rows), rows
    with village.app.app_context(), services().db.read() as conn:
        (kept,) = conn.execute("SELECT COUNT(*) FROM unresolved_references").fetchone()
    assert kept == 0  # not even a row the listing would filter out later
