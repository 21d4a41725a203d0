"""The write policy as a table: role x document type x whose record (the caller's own,
another volunteer's, an unknown author's) x create / edit / delete x in or out of the
caller's scope x approved by county staff or not, on both backends.

The expected answer of every cell is written out below, by hand, from the rules of
issue 11 (not computed by the code under test):
- a volunteer creates records as themselves, and changes or deletes their own; a
  household is shared by the field roles of its place;
- a station lead also creates records for their station's volunteers, and changes or
  deletes any record of their place;
- county staff create as themselves, and change or delete any record in scope,
  approved ones included;
- an admin writes reference data (here a team) only, whoever is named as its author;
- nobody writes outside their scope; once approved, a record is closed to the field.

Everyone taking part in a test record is the village's other volunteer, so the
participants rule passes in every cell and only the dimensions above decide.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from support.county import OTHER_VILLAGE, VILLAGE, County, live_county, quarantined

from server.demo_county import DemoCounty, recorded_by
from sync.errors import NotFound
from sync.http_client import quote_id
from sync.store import Store

TOWNSHIP = VILLAGE[:9]  # county staff and the admin are scoped to village A's township
# username -> (role, scope). "mate" is the other volunteer of village A, "vol-b" the
# volunteer of village B (another township: out of everybody's scope here).
USERS = {
    "vol": ("volunteer", VILLAGE),
    "mate": ("volunteer", VILLAGE),
    "lead": ("station_lead", VILLAGE),
    "staff": ("county_staff", TOWNSHIP),
    "it": ("admin", TOWNSHIP),
    "vol-b": ("volunteer", OTHER_VILLAGE),
}
ROLES = {"volunteer": "vol", "station_lead": "lead", "county_staff": "staff", "admin": "it"}
TYPES = ("patrol", "water_source", "home_visit", "household", "team")
AUTHORS = ("own", "other", "unknown")
OPS = ("create", "edit", "delete")

# Expected answers in scope: "ok" or "no", for each author (own, other, unknown) under
# create | edit | delete | edit once approved | delete once approved.
IN_SCOPE = {
    # role, type:                  create     edit       delete     edit appr. delete appr.
    ("volunteer", "patrol"):       "ok no no | ok no no | ok no no | no no no | no no no",
    ("volunteer", "water_source"): "ok no no | ok no no | ok no no | no no no | no no no",
    ("volunteer", "home_visit"):   "ok no no | ok no no | ok no no | no no no | no no no",
    ("volunteer", "household"):    "ok no no | ok ok ok | ok ok ok | no no no | no no no",
    ("volunteer", "team"):         "no no no | no no no | no no no | no no no | no no no",
    ("station_lead", "patrol"):       "ok ok no | ok ok ok | ok ok ok | no no no | no no no",
    ("station_lead", "water_source"): "ok ok no | ok ok ok | ok ok ok | no no no | no no no",
    ("station_lead", "home_visit"):   "ok ok no | ok ok ok | ok ok ok | no no no | no no no",
    ("station_lead", "household"):    "ok ok no | ok ok ok | ok ok ok | no no no | no no no",
    ("station_lead", "team"):         "no no no | no no no | no no no | no no no | no no no",
    ("county_staff", "patrol"):       "ok no no | ok ok ok | ok ok ok | ok ok ok | ok ok ok",
    ("county_staff", "water_source"): "ok no no | ok ok ok | ok ok ok | ok ok ok | ok ok ok",
    ("county_staff", "home_visit"):   "ok no no | ok ok ok | ok ok ok | ok ok ok | ok ok ok",
    ("county_staff", "household"):    "ok no no | ok ok ok | ok ok ok | ok ok ok | ok ok ok",
    ("county_staff", "team"):         "no no no | no no no | no no no | no no no | no no no",
    ("admin", "patrol"):       "no no no | no no no | no no no | no no no | no no no",
    ("admin", "water_source"): "no no no | no no no | no no no | no no no | no no no",
    ("admin", "home_visit"):   "no no no | no no no | no no no | no no no | no no no",
    ("admin", "household"):    "no no no | no no no | no no no | no no no | no no no",
    ("admin", "team"):         "ok ok ok | ok ok ok | ok ok ok | ok ok ok | ok ok ok",
}  # fmt: skip
# Out of scope (village B, another township) nobody writes anything, every cell "no".
OUT_OF_SCOPE = dict.fromkeys(IN_SCOPE, "no no no | no no no | no no no | no no no | no no no")
COLUMNS = [
    (op, approved)
    for op, approved in (
        ("create", False),
        ("edit", False),
        ("delete", False),
        ("edit", True),
        ("delete", True),
    )
]


def expected(
    role: str, doc_type: str, author: str, op: str, in_scope: bool, approved: bool
) -> bool:
    table = IN_SCOPE if in_scope else OUT_OF_SCOPE
    groups = [group.split() for group in table[(role, doc_type)].split("|")]
    answer = groups[COLUMNS.index((op, approved))][AUTHORS.index(author)]
    return {"ok": True, "no": False}[answer]


CELLS = [
    pytest.param(role, doc_type, author, op, in_scope, approved, id="-".join(
        [role, doc_type, author, op, "in" if in_scope else "out", "approved" * approved or "open"]
    ))
    for role, doc_type, author, op, in_scope, approved in itertools.product(
        ROLES, TYPES, AUTHORS, OPS, (True, False), (False, True)
    )
    if not (op == "create" and approved)
]  # fmt: skip


@dataclass
class World:
    county: County
    store: Store
    demo: DemoCounty
    households: dict[str, str]  # village -> a household id there
    sessions: dict[str, requests.Session]

    def new_doc(self, doc_type: str, village: str, author: str) -> dict:
        """A valid new `doc_type` document in `village`, its author the user `author`."""
        place = next(v for v in self.demo.villages if v.code == village)
        if doc_type == "team":
            doc = next(d for d in self.demo.reference() if d["_id"] == f"team:{village}")
            return {**doc, "_id": f"team:t-{uuid.uuid4().hex[:12]}", "author": f"user:{author}"}
        if doc_type == "home_visit":
            doc = self.demo.home_visit(place, self.households[village])
        else:
            doc = getattr(self.demo, doc_type)(place)
        mate = "mate" if village == VILLAGE else "vol-b"
        (doc,) = recorded_by([doc], author, taking_part=[mate])
        return doc


@pytest.fixture(scope="module", params=["embedded", "couchdb"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    couch_url = request.getfixturevalue("couch_url") if request.param == "couchdb" else None
    with live_county(tmp_path_factory.mktemp("county"), couch_url) as county:
        county.add_places(VILLAGE, OTHER_VILLAGE)
        for username, (role, scope) in USERS.items():
            county.add_user(username, role, scope)
        store = county.app.extensions["fieldsync"].store
        demo = DemoCounty(seed=20241202)
        households = {}
        for village, author in ((VILLAGE, "mate"), (OTHER_VILLAGE, "vol-b")):
            place = next(v for v in demo.villages if v.code == village)
            (household,) = recorded_by([demo.household(place)], author)
            store.bulk_docs([household])
            households[village] = household["_id"]
        sessions = {}
        for username in USERS:
            sessions[username] = county.session(username)
        yield World(county, store, demo, households, sessions)
        for session in sessions.values():
            session.close()


def author_of(author: str, caller: str, village: str) -> str:
    if author == "own":
        return caller
    if author == "other":
        return "mate" if village == VILLAGE else "vol-b"
    return "ghost"  # on no roster


@pytest.mark.parametrize(("role", "doc_type", "author", "op", "in_scope", "approved"), CELLS)
def test_the_write_policy_table(
    world: World, role: str, doc_type: str, author: str, op: str, in_scope: bool, approved: bool
) -> None:
    caller = ROLES[role]
    village = VILLAGE if in_scope else OTHER_VILLAGE
    doc = world.new_doc(doc_type, village, author_of(author, caller, village))
    session, url = world.sessions[caller], f"{world.county.url}/db/{quote_id(doc['_id'])}"
    if op == "create":
        answer = session.post(f"{world.county.url}/db/_bulk_docs", json={"docs": [doc]})
        (row,) = answer.json()
        accepted = "ok" in row
    else:
        if approved:
            review = {"state": "approved", "by": "user:staff", "at": "2024-09-01T10:00:00+08:00"}
            doc = {**doc, "review": review}
        world.store.bulk_docs([doc])
        stored = world.store.get(doc["_id"])
        if op == "edit":
            changed = {**stored, "updated_at": stored["updated_at"]}
            changed["name" if doc_type == "team" else "device"] = "tablet-edited"
            answer = session.put(url, json=changed)
        else:
            answer = session.delete(url, params={"rev": stored["_rev"]})
        row = answer.json()
        accepted = answer.status_code == 201
        assert accepted or answer.status_code == 403, (answer.status_code, row)
    should = expected(role, doc_type, author, op, in_scope, approved)
    assert accepted == should, row
    if accepted:
        if op == "delete":
            with pytest.raises(NotFound):
                world.store.get(doc["_id"])
        else:
            assert world.store.get(doc["_id"])["_rev"] == row["rev"]
        return
    assert row["error"] == "forbidden"
    if op == "create":
        with pytest.raises(NotFound):
            world.store.get(doc["_id"])
    else:
        assert world.store.get(doc["_id"]) == stored  # nothing changed
    assert (doc["_id"], caller) in quarantined(world.county)
