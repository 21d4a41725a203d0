"""server/accounts/roster.py: accounts are the roster's people, written document first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import validate_document
from server.accounts import roster
from server.accounts.roster import RosterError, enrol, enrol_many, set_active, user_document
from server.accounts.users import UserStore
from sync import SqliteStore

PASSWORD = "a-long-password"
VILLAGE, OTHER_VILLAGE, TOWNSHIP = "422827100001", "422827100002", "422827100"
NOW = "2024-03-01T08:00:00+08:00"


def reference(doc_id: str, place: str, **fields: object) -> dict:
    doc_type = doc_id.split(":")[0]
    return validate_document(
        {"_id": doc_id, "type": doc_type, "schema_version": 1, "place": place,
         "author": "user:admin", "device": "admin-cli", "created_at": NOW, "updated_at": NOW,
         **fields}
    )  # fmt: skip


def place(code: str, level: str, parent: str | None = None) -> dict:
    extra = {"parent": parent} if parent else {}
    return reference(f"place:{code}", code, code=code, name_zh=f"地区{code}", level=level, **extra)


def team(place_code: str, level: str) -> dict:
    return reference(f"team:{place_code}", place_code, name="先锋队", level=level,
                     captain="user:tian", member_count=8)  # fmt: skip


def station(place_code: str) -> dict:
    return reference(f"station:{place_code}", place_code, name="服务站", kind="station",
                     lead="user:tian")  # fmt: skip


COUNTY_DOCS = [
    place("422827", "county"),
    place(TOWNSHIP, "township", "422827"),
    place(VILLAGE, "village", TOWNSHIP),
    place(VILLAGE + "001", "grid", VILLAGE),
    place(OTHER_VILLAGE, "village", TOWNSHIP),
    team(VILLAGE, "village"),
    team(TOWNSHIP, "township"),
    station(VILLAGE),
    station(OTHER_VILLAGE),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "county.sqlite") as store:
        assert all(row.get("ok") for row in store.bulk_docs(COUNTY_DOCS))
        yield store


@pytest.fixture
def users(tmp_path: Path) -> Iterator[UserStore]:
    with SqliteStore(tmp_path / "accounts.sqlite") as accounts:
        yield UserStore(accounts)


def test_user_document_is_valid_with_the_envelope_filled_in() -> None:
    doc = user_document("tian", "volunteer", VILLAGE, "田秀英", team=f"team:{VILLAGE}",
                        station=f"station:{VILLAGE}", now=NOW)  # fmt: skip
    assert validate_document(doc) == doc
    assert (doc["_id"], doc["place"], doc["author"], doc["device"]) == (
        "user:tian", VILLAGE, "user:admin", "admin-cli",
    )  # fmt: skip
    assert (doc["team"], doc["station"], doc["active"]) == (
        f"team:{VILLAGE}", f"station:{VILLAGE}", True,
    )  # fmt: skip
    bare = user_document("chenke", "county_staff", "422827", "陈科", author="it", active=False)
    assert "team" not in bare and "station" not in bare and bare["author"] == "user:it"
    assert bare["active"] is False


def test_enrol_writes_the_document_then_the_account(store, users) -> None:
    user = enrol(store, users, "tian", PASSWORD, "station_lead", VILLAGE, display_name="田秀英",
                 team=f"team:{VILLAGE}", station=f"station:{VILLAGE}")  # fmt: skip
    assert (user.username, user.display_name, user.team) == ("tian", "田秀英", f"team:{VILLAGE}")
    doc = store.get("user:tian")
    assert (doc["role"], doc["scope"], doc["station"]) == (
        "station_lead", VILLAGE, f"station:{VILLAGE}",
    )  # fmt: skip
    assert users.authenticate("tian", PASSWORD) is not None


@pytest.mark.parametrize(
    ("scope", "fields", "english"),
    [
        ("999999", {}, "There is no place 999999"),
        (VILLAGE, {"team": "team:422827100009"}, "There is no team team:422827100009"),
        (VILLAGE, {"team": f"station:{VILLAGE}"}, "is not a team"),
        (VILLAGE, {"station": f"station:{OTHER_VILLAGE}"}, "neither at nor above"),
        ("422827", {"team": f"team:{VILLAGE}"}, "neither at nor above"),  # a team below
        (VILLAGE, {"display_name": None}, "needs a display_name"),
        (VILLAGE, {"role": "wizard"}, "Invalid role"),
    ],
)
def test_enrol_refuses_what_the_county_does_not_hold(
    store, users, scope: str, fields: dict, english: str
) -> None:
    args = {"display_name": "田秀英", "role": "volunteer", **fields}
    role = args.pop("role")
    with pytest.raises(ValueError, match=english) as refused:
        enrol(store, users, "tian", PASSWORD, role, scope, **args)
    assert "。 / " in str(refused.value)
    assert users.get("tian") is None
    assert [row["id"] for row in store.all_docs(start_key="user:", end_key="user:\uffff")] == []


def test_a_team_or_station_may_sit_above_the_scope(store, users) -> None:
    grid = VILLAGE + "001"
    enrol(store, users, "xiang", PASSWORD, "volunteer", grid, display_name="向国强",
          team=f"team:{TOWNSHIP}", station=f"station:{VILLAGE}")  # fmt: skip
    assert store.get("user:xiang")["scope"] == grid


def test_enrol_links_an_existing_document_and_keeps_its_name(store, users) -> None:
    existing = user_document("tian", "volunteer", VILLAGE, "田秀英", team=f"team:{VILLAGE}",
                             now=NOW)  # fmt: skip
    existing["phone"] = "13800000000"
    rev = store.put(existing)
    enrol(store, users, "tian", PASSWORD, "volunteer", VILLAGE, team=f"team:{VILLAGE}")
    assert store.get("user:tian")["_rev"] == rev  # nothing differed: no new revision
    assert users.get("tian").display_name == "田秀英"  # the document's name, left out here


def test_enrol_updates_a_document_that_differs(store, users) -> None:
    store.put(user_document("tian", "volunteer", VILLAGE, "田秀英", team=f"team:{VILLAGE}",
                            now=NOW))  # fmt: skip
    store.put({**store.get("user:tian"), "phone": "13800000000"})
    enrol(store, users, "tian", PASSWORD, "station_lead", VILLAGE, station=f"station:{VILLAGE}",
          author="it")  # fmt: skip
    doc = store.get("user:tian")
    assert doc["_rev"].startswith("3-") and doc["role"] == "station_lead"
    assert doc["station"] == f"station:{VILLAGE}" and "team" not in doc
    assert doc["phone"] == "13800000000" and doc["display_name"] == "田秀英"
    assert (doc["created_at"], doc["author"]) == (NOW, "user:it")


def test_a_crash_between_document_and_account_is_mended_by_a_rerun(
    store, users, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(users, "create_many", crash)
        with pytest.raises(OSError):
            enrol(store, users, "tian", PASSWORD, "volunteer", VILLAGE, display_name="田秀英")
    rev = store.get("user:tian")["_rev"]  # on the roster, without an account yet
    assert users.get("tian") is None
    enrol(store, users, "tian", PASSWORD, "volunteer", VILLAGE)
    assert store.get("user:tian")["_rev"] == rev
    assert users.authenticate("tian", PASSWORD).display_name == "田秀英"


def test_enrol_many_is_all_or_none(store, users) -> None:
    good = {"username": "tian", "password": PASSWORD, "role": "volunteer", "scope": VILLAGE,
            "display_name": "田秀英"}  # fmt: skip
    bad = {**good, "username": "xiang", "scope": "422827100003"}
    twice = {**good}
    with pytest.raises(RosterError) as refused:
        enrol_many(store, users, [good, bad, twice])
    assert sorted(refused.value.errors) == [1, 2]
    assert "422827100003" in refused.value.errors[1] and "twice" in refused.value.errors[2]
    assert "2 users refused" in str(refused.value)
    assert users.list_users() == [] and store.all_docs(keys=["user:tian"]).__next__().get("error")


def test_enrol_many_counts_pending_documents_as_existing(store, users) -> None:
    new_village = "422827100003"
    pending = [place(new_village, "village", TOWNSHIP), station(new_village)]
    spec = {"username": "tian", "password": PASSWORD, "role": "volunteer", "scope": new_village,
            "display_name": "田秀英", "station": f"station:{new_village}"}  # fmt: skip
    assert roster.check_enrolments(store, users, [spec]) != {}
    assert roster.check_enrolments(store, users, [spec], pending=pending) == {}
    ticks = []
    store.bulk_docs(pending)
    enrol_many(store, users, [spec], pending=pending, progress=ticks.append)
    assert ticks == [1] and store.get("user:tian")["station"] == f"station:{new_village}"


def test_set_active_sets_the_document_too(store, users) -> None:
    enrol(store, users, "tian", PASSWORD, "volunteer", VILLAGE, display_name="田秀英")
    assert set_active(store, users, "tian", False) is True
    assert store.get("user:tian")["active"] is False and users.get("tian").active is False
    assert users.authenticate("tian", PASSWORD) is None
    rev = store.get("user:tian")["_rev"]
    assert set_active(store, users, "tian", False) is True
    assert store.get("user:tian")["_rev"] == rev  # already so: no new revision
    set_active(store, users, "tian", True)
    assert store.get("user:tian")["active"] is True
    users.create("legacy", PASSWORD, "volunteer", VILLAGE)  # an account from before the roster
    assert set_active(store, users, "legacy", False) is False
    with pytest.raises(ValueError, match="No such user"):
        set_active(store, users, "ghost", True)
