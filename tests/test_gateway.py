"""The county gateway with real replicators: ours and PouchDB, over both store backends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.county import (
    OTHER_VILLAGE,
    VILLAGE,
    County,
    county_store,
    invalid_records,
    live_county,
    logged,
    quarantined,
    village_records,
)
from support.pouchdb_client import PouchDB
from support.replicas import snapshot, sqlite_store

from schemas.rejection_notice import notice_id
from server.gateway import push
from server.services import services
from sync.couch_store import CouchStore
from sync.errors import NotFound, PeerUnavailable
from sync.replicator import replicate


def _revisions(rev: str) -> dict:
    pos, _, rev_hash = rev.partition("-")
    return {"start": int(pos), "ids": [rev_hash]}


def test_our_replicator_pushes_and_pulls_through_the_gateway(
    county: County, tmp_path: Path
) -> None:
    county.add_user("wangfang", "volunteer", VILLAGE)
    good = village_records(VILLAGE, author="wangfang")
    bad = invalid_records(VILLAGE, author="wangfang")
    elsewhere = village_records(OTHER_VILLAGE, 1, seed=7)
    county_store(county).bulk_docs(elsewhere)  # another village's work, already at the county
    with (
        sqlite_store(tmp_path, "tablet") as tablet,
        CouchStore(county.db_url("wangfang")) as gateway,
    ):
        tablet.bulk_docs(good + bad)
        pushed = replicate(tablet, gateway, batch_size=4)
        assert sorted(f["id"] for f in pushed.failures) == sorted(d["_id"] for d in bad)
        assert all(f["error"] == "forbidden" for f in pushed.failures)
        assert pushed.docs_written == len(good)
        for doc in good:
            assert county_store(county).get(doc["_id"])["_rev"] == tablet.get(doc["_id"])["_rev"]
        assert sorted(q[0] for q in quarantined(county)) == sorted(d["_id"] for d in bad)

        pulled = replicate(gateway, tablet, batch_size=4)
        assert pulled.ok
        notices = [tablet.get(notice_id(d["_id"])) for d in bad]
        assert all(n["type"] == "rejection_notice" and n["reasons"] for n in notices)
        assert "时区" in " ".join(notices[0]["reasons"])
        held = set(snapshot(tablet))
        assert not held & {d["_id"] for d in elsewhere}  # nothing from outside the scope

        # the volunteer corrects the record: it lands and its notice is withdrawn
        fixed = {**tablet.get(bad[0]["_id"]), "visited_at": "2024-08-25T09:30:00+08:00"}
        tablet.put(fixed)
        assert replicate(tablet, gateway).ok
        replicate(gateway, tablet)
        assert tablet.open_revs(notice_id(bad[0]["_id"]), "all")[0]["ok"].get("_deleted")


def test_pouchdb_pushes_and_pulls_through_the_gateway(county: County, pouch: PouchDB) -> None:
    county.add_user("lisi", "station_lead", VILLAGE)
    county_store(county).bulk_docs(village_records(OTHER_VILLAGE, 1, seed=7))
    good = village_records(VILLAGE, 2, author="lisi")
    bad = invalid_records(VILLAGE, author="lisi")
    tablet = pouch.open_local("tablet")
    pouch.bulk_docs(tablet, good + bad)
    remote = pouch.open_remote(f"{county.url}/db", username="lisi", password="走访记录-2024")
    pushed = pouch.replicate(tablet, remote)
    assert pushed["docs_written"] == len(good)
    assert pushed["doc_write_failures"] == len(bad)
    pulled = pouch.replicate(remote, pouch.open_local("fresh"))
    ids = {row["id"] for row in pouch.all_docs(pouch.open_local("fresh"))["rows"]}
    assert {d["_id"] for d in good} <= ids
    assert {notice_id(d["_id"]) for d in bad} <= ids
    assert all(
        i.split(":")[0] in {"household", "home_visit", "patrol", "rejection_notice", "user"}
        for i in ids
    )
    assert pulled["doc_write_failures"] == 0
    assert len(quarantined(county)) == len(bad)


def test_an_admin_never_receives_personal_data(county: County, tmp_path: Path) -> None:
    county.add_user("it", "admin", "422827")
    county_store(county).bulk_docs(village_records(VILLAGE, 2))
    with sqlite_store(tmp_path, "admin") as copy, CouchStore(county.db_url("it")) as gateway:
        assert replicate(gateway, copy).ok
        types = {doc_id.split(":")[0] for doc_id in snapshot(copy)}
    assert types == {"patrol", "user"}  # the roster is not personal data


def test_every_refused_edit_is_kept_once(county: County) -> None:
    """Two different refused edits of one parent are two quarantine rows; a retried
    edit is not a third."""
    county.add_user("wangfang", "volunteer", VILLAGE)
    doc = village_records(VILLAGE, 1, seed=21, author="wangfang")[2]  # a patrol
    session = county.session("wangfang")
    created = session.put(f"{county.url}/db/{doc['_id']}", json=doc, timeout=30)
    assert created.status_code == 201, created.text
    rev = created.json()["rev"]
    first = {**doc, "_rev": rev, "started_at": "yesterday"}
    second = {**doc, "_rev": rev, "ended_at": "tomorrow"}
    for body in (first, second, first):
        answer = session.put(f"{county.url}/db/{doc['_id']}", json=body, timeout=30)
        assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    assert [doc_id for doc_id, _ in quarantined(county)] == [doc["_id"], doc["_id"]]


def test_the_scope_index_takes_a_pushed_body_only_for_a_sole_leaf(county: County) -> None:
    """After a push the index reads places from the bodies the push wrote, not from the
    store; only where that body is surely the winner (the change's one leaf). Another
    writer's change, and a conflict, are read from the store."""
    store = county_store(county)
    grids = [f"{VILLAGE}00{n}" for n in (1, 2, 3)]
    pushed, other, disputed = village_records(VILLAGE, 1, seed=31)
    pushed, other = {**pushed, "place": grids[0]}, {**other, "place": grids[1]}
    winner = {**disputed, "_rev": "1-" + "f" * 32, "place": grids[2]}
    loser = {**disputed, "_rev": "1-" + "0" * 32, "place": grids[0]}
    with county.app.app_context():
        scope = services().scope
        scope.catch_up()
        (row,) = store.bulk_docs([pushed])
        store.bulk_docs([other])
        store.bulk_docs([winner, loser], new_edits=False)
        written = {
            # A different place than stored: it shows where the index took the place from.
            (pushed["_id"], row["rev"]): {**pushed, "place": grids[2]},
            # Either leaf of a conflict: which one wins is the store's to say.
            (disputed["_id"], loser["_rev"]): loser,
            (disputed["_id"], winner["_rev"]): {**winner, "place": grids[1]},
        }
        scope.remember(written)
        assert scope.catch_up() == 3
        places = {doc["_id"]: scope.lookup(doc["_id"]).place for doc in (pushed, other, disputed)}
    assert places == {pushed["_id"]: grids[2], other["_id"]: grids[1], disputed["_id"]: grids[2]}


def test_a_document_changed_while_indexed_does_not_skip_other_changes(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index reads an unknown change's body in a second request; the document may
    have changed again in between, and another document too: all are indexed."""
    store = county_store(county)
    first, other, late = village_records(VILLAGE, 1, seed=33)
    real_changes = store.changes
    injected: list[str] = []

    def changes_with_a_concurrent_writer(**options: object):  # noqa: ANN202
        if options.get("doc_ids") and not injected:
            injected.append("done")
            store.bulk_docs([late])  # a change after the batch ...
            current = store.get(first["_id"])
            store.bulk_docs([{**current, "edited": True}])  # ... and `first` changes again
        return real_changes(**options)

    with county.app.app_context():
        scope = services().scope
        scope.catch_up()
        store.bulk_docs([other, first])  # ... and `first` is the batch's last change
        monkeypatch.setattr(store, "changes", changes_with_a_concurrent_writer)
        scope.remember({("not", "written"): {}})  # something remembered: bodies read apart
        scope.catch_up()
        monkeypatch.setattr(store, "changes", real_changes)
        scope.catch_up()
        indexed = {doc["_id"]: scope.lookup(doc["_id"]) for doc in (first, other, late)}
    assert injected and all(entry is not None for entry in indexed.values()), indexed


def test_a_request_waiting_for_a_catch_up_that_began_after_it_does_not_ask_again(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = county_store(county)
    asked: list[object] = []
    real_changes = store.changes

    def counted(**options: object):  # noqa: ANN202
        asked.append(options)
        return real_changes(**options)

    with county.app.app_context():
        scope = services().scope
        before = time.monotonic()
        monkeypatch.setattr(store, "changes", counted)
        scope.catch_up()  # began after `before`: it has every change made before then
        assert scope.catch_up(needed_as_of=before) == 0
        assert len(asked) == 1
        store.bulk_docs(village_records(VILLAGE, 1, seed=35)[:1])
        assert scope.catch_up(needed_as_of=time.monotonic()) == 1  # a change since: asked
        assert len(asked) == 2


def test_revs_diff_asks_the_store_only_about_documents_the_caller_sees(
    county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New ids (what a tablet's push mostly asks about) are answered as missing without
    the store; a document the caller sees gets the store's answer: revisions it holds
    are not missing."""
    county.add_user("wangfang", "volunteer", VILLAGE)
    held, new = village_records(VILLAGE, 1, seed=37)[:2]
    (written,) = county_store(county).bulk_docs([held])
    with county.app.app_context():
        services().scope.catch_up()  # the index has read `held`
    later = "2-" + "a" * 32
    store = county_store(county)
    asked: list[dict] = []
    real_revs_diff = store.revs_diff

    def counted(revs: dict) -> dict:
        asked.append(dict(revs))
        return real_revs_diff(revs)

    monkeypatch.setattr(store, "revs_diff", counted)
    answer = county.session("wangfang").post(
        f"{county.url}/db/_revs_diff",
        json={new["_id"]: ["1-" + "b" * 32], held["_id"]: [written["rev"], later]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert list(answer.json()) == [new["_id"], held["_id"]]
    assert answer.json()[new["_id"]] == {"missing": ["1-" + "b" * 32]}
    # the store's own answer (pouchdb-server leaves out possible_ancestors)
    assert answer.json()[held["_id"]]["missing"] == [later]
    assert asked == [{held["_id"]: [written["rev"], later]}]


def test_a_replayed_revision_is_not_judged_again_against_a_winner_that_moved_on(
    county: County,
) -> None:
    """A revision pushed, answered, the answer lost, and pushed again after county staff
    reviewed the document (its winner moved on): it is answered as written, neither
    refused against the reviewed winner nor quarantined, no notice, one write-log row."""
    county.add_user("wangfang", "volunteer", VILLAGE)
    county.add_user("chen", "county_staff", VILLAGE[:6])
    doc = village_records(VILLAGE, 1, seed=41, author="wangfang")[0]
    first = {**doc, "_rev": "1-" + "e" * 32, "_revisions": _revisions("1-" + "e" * 32)}
    session = county.session("wangfang")
    for attempt in range(2):
        if attempt:  # between the two, county staff approve the household
            current = county_store(county).get(doc["_id"])
            review = {"state": "approved", "by": "user:chen", "at": "2024-06-07T09:00:00+08:00"}
            reviewed = county.session("chen").put(
                f"{county.url}/db/{doc['_id']}", json={**current, "review": review}, timeout=30
            )
            assert reviewed.status_code == 201, reviewed.text
        answer = session.post(
            f"{county.url}/db/_bulk_docs", json={"docs": [first], "new_edits": False}, timeout=30
        )
        assert answer.status_code == 201 and answer.json() == [], answer.text
    store = county_store(county)
    assert store.get(doc["_id"])["_rev"] == reviewed.json()["rev"]
    assert quarantined(county) == []
    assert logged(county, doc["_id"]) == [
        (first["_rev"], "accepted"),
        (reviewed.json()["rev"], "accepted"),
    ]
    with pytest.raises(NotFound):
        store.get(notice_id(doc["_id"]))
    # The reviewed revision, sent with a forged history: refused and kept as ever.
    rev_hash = reviewed.json()["rev"].partition("-")[2]
    forged = {
        **first,
        "_rev": reviewed.json()["rev"],
        "_revisions": {"start": 2, "ids": [rev_hash, "c" * 32]},
    }
    answer = session.post(
        f"{county.url}/db/_bulk_docs", json={"docs": [forged], "new_edits": False}, timeout=30
    )
    assert answer.json()[0]["error"] == "forbidden"
    assert [doc_id for doc_id, _ in quarantined(county)] == [doc["_id"]]


def test_a_replayed_push_is_written_and_logged_once(county: County) -> None:
    county.add_user("wangfang", "volunteer", VILLAGE)
    session = county.session("wangfang")
    docs = [
        {**doc, "_rev": f"1-{n:032x}", "_revisions": _revisions(f"1-{n:032x}")}
        for n, doc in enumerate(village_records(VILLAGE, 1, seed=45, author="wangfang"), start=1)
    ]
    for _ in range(2):
        answer = session.post(
            f"{county.url}/db/_bulk_docs", json={"docs": docs, "new_edits": False}, timeout=30
        )
        assert answer.status_code == 201 and answer.json() == [], answer.text
    for doc in docs:
        assert logged(county, doc["_id"]) == [(doc["_rev"], "accepted")]


def test_revs_diff_after_a_catch_up_answers_every_id_from_the_caught_up_index(
    county: County,
) -> None:
    """Once one seen document made `_revs_diff` catch up, a document the index had not
    read yet gets the store's answer too."""
    county.add_user("wangfang", "volunteer", VILLAGE)
    session = county.session("wangfang")
    seen, unread = village_records(VILLAGE, 1, seed=47)[:2]
    store = county_store(county)
    (held,) = store.bulk_docs([seen])
    session.get(f"{county.url}/db/", timeout=30).raise_for_status()  # the index shows `seen`
    (written,) = store.bulk_docs([unread])
    later = "5-" + "c" * 32
    answer = session.post(
        f"{county.url}/db/_revs_diff",
        json={seen["_id"]: [held["rev"], later], unread["_id"]: [written["rev"], later]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert {i: entry["missing"] for i, entry in answer.json().items()} == {
        seen["_id"]: [later],
        unread["_id"]: [later],
    }


def test_revs_diff_catches_up_before_answering_about_a_document_the_caller_saw(
    county: County,
) -> None:
    """A document the index shows the caller may have left their scope since the index
    last read the store: `_revs_diff` answers after catching up, as for any hidden one."""
    county.add_user("wangfang", "volunteer", VILLAGE)
    session = county.session("wangfang")
    doc = village_records(VILLAGE, 1, seed=43)[0]
    store = county_store(county)
    (first,) = store.bulk_docs([doc])
    session.get(f"{county.url}/db/", timeout=30).raise_for_status()  # the index shows it
    later = "3-" + "b" * 32
    seen = session.post(f"{county.url}/db/_revs_diff", json={doc["_id"]: [later]}, timeout=30)
    assert seen.json()[doc["_id"]]["missing"] == [later]  # the store's own answer
    (moved,) = store.bulk_docs([{**doc, "_rev": first["rev"], "place": f"{OTHER_VILLAGE}001"}])
    asked = session.post(
        f"{county.url}/db/_revs_diff",
        json={doc["_id"]: [first["rev"], moved["rev"], later]},
        timeout=30,
    )
    # The store holds the first two; the caller is told only what a missing id gets.
    assert asked.json() == {doc["_id"]: {"missing": [first["rev"], moved["rev"], later]}}


def test_a_catch_up_during_a_write_takes_the_bodies_being_written(county: County) -> None:
    """A replicated revision's id is known before the store write returns: a catch-up
    that meets it meanwhile (another push's) indexes it from the body being written."""
    store = county_store(county)
    doc = {**village_records(VILLAGE, 1, seed=39)[2], "_rev": "1-" + "c" * 32}
    grid = f"{VILLAGE}002"
    with county.app.app_context():
        scope = services().scope
        scope.catch_up()
        # A different place than stored: it shows where the index took the place from.
        with scope.writing({(doc["_id"], doc["_rev"]): {**doc, "place": grid}}):
            store.bulk_docs([doc], new_edits=False)
            assert scope.catch_up() == 1
            assert scope.lookup(doc["_id"]).place == grid


def test_a_push_that_fails_midway_records_the_parts_already_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large push is written part by part (WRITE_PART documents a store call). If the
    store fails on a later part (it went away), the request fails, but what was written
    and refused before is in the write log and the quarantine: nothing the server holds
    goes unrecorded."""
    good = village_records(VILLAGE, rounds=20, seed=5, author="wangfang")[:59]
    bad = {**good[1], "_id": good[1]["_id"] + "x", "visited_at": "no time"}
    docs = [bad, *good]  # the refused one is in the first part
    monkeypatch.setattr(push, "WRITE_PART", 20)
    with live_county(tmp_path / "county", None) as county:
        county.add_user("wangfang", "volunteer", VILLAGE)
        store = county.app.extensions["fieldsync"].store
        real = store.bulk_docs
        calls: list[int] = []

        def failing_second_time(
            batch: list[dict], *, new_edits: bool = True, plain_json: bool = False
        ) -> list[dict]:
            calls.append(len(batch))
            if len(calls) == 2:
                raise PeerUnavailable("the store went away")
            return real(batch, new_edits=new_edits, plain_json=plain_json)

        monkeypatch.setattr(store, "bulk_docs", failing_second_time)
        answer = county.session("wangfang").post(
            f"{county.url}/db/_bulk_docs", json={"docs": docs, "new_edits": True}, timeout=60
        )
        assert answer.status_code >= 500  # the store failed, not the request
        written = calls[0]
        assert written == 20  # the first part went in before the failure
        with county.app.app_context(), services().db.read() as conn:
            logged = conn.execute("SELECT doc_id, outcome FROM write_log ORDER BY id").fetchall()
        assert [d for d, o in logged if o == "accepted"] == [d["_id"] for d in good[:written]]
        assert [d for d, o in logged if o == "quarantined"] == [bad["_id"]]
        assert [q[0] for q in quarantined(county)] == [bad["_id"]]


def test_a_failed_catch_up_while_feeds_wait_is_logged_and_retried(
    county: County, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While feeds wait, one follower reads the store for them; if the store is away, the
    log says so (the error's type only: its text may hold credentials) and it tries again."""
    store = county_store(county)
    failures: list[str] = []

    def unreachable(**options: object):  # noqa: ANN202
        failures.append("asked")
        raise PeerUnavailable("http://admin:secret@couch/county is unreachable")

    with county.app.app_context():
        scope = services().scope
        monkeypatch.setattr(store, "changes", unreachable)
        with caplog.at_level("WARNING", logger="server.gateway.scope"):
            scope.wait_beyond(scope.latest_gseq(), 1.3)  # the follower runs twice meanwhile
    assert len(failures) >= 2
    assert "catch-up failed (PeerUnavailable)" in caplog.text and "secret" not in caplog.text
