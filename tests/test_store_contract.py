"""The `Store` contract: one suite, run unchanged against every implementation.

Add an implementation by adding a factory to `STORES`. Behaviour that only
some stores promise (our deterministic revision ids) is asked of a store
through `capabilities`, never by checking its class.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.replicas import b64, replicated, rev

from sync.couch_store import CouchStore
from sync.errors import BadRequest, Conflict, NotFound, PreconditionFailed, StoreError, TooLarge
from sync.sqlite_store import SqliteStore
from sync.store import Store


@dataclass
class StoreKind:
    make: Callable[[Path], Store]
    capabilities: set[str] = field(default_factory=set)


def _couch_db_for(tmp: Path) -> str:
    # one database per test directory, so "reopen" finds the same data
    return "contract-" + hashlib.md5(str(tmp).encode(), usedforsecurity=False).hexdigest()


# Capabilities beyond the CouchDB protocol that only our own stores promise:
#   deterministic_revs      the same edit of the same parent gets the same revision id
#   refuses_forged_history  a replicated path may not give a known revision a new parent
#   scoped_stubs            a replicated attachment stub may not name another document's data
#   checks_since            a `since` the store never produced is refused
#   knows_ancestors         _revs_diff counts compacted ancestors as held (CouchDB does;
#                           PouchDB reports them missing, which costs a re-send, no harm)
#   write_order             _changes lists documents in the order they were last written
#                           (one file or one log; CouchDB's shards interleave theirs)
STORES: dict[str, StoreKind] = {
    "sqlite": StoreKind(
        lambda tmp: SqliteStore(tmp / "contract.sqlite", max_doc_bytes=64 * 1024),
        {
            "deterministic_revs",
            "refuses_forged_history",
            "scoped_stubs",
            "checks_since",
            "knows_ancestors",
            "write_order",
        },
    ),
    "couch": StoreKind(
        lambda tmp: CouchStore(
            f"{COUCH['url']}/{_couch_db_for(tmp)}", create=True, max_doc_bytes=64 * 1024
        ),
        {"write_order"},
    ),
    # Apache CouchDB 3.5 (two shards): the reference every other store answers like.
    "apache_couchdb": StoreKind(
        lambda tmp: CouchStore(COUCH["apache_db"], max_doc_bytes=64 * 1024),
        {"knows_ancestors", "checks_since"},
    ),
}
COUCH: dict[str, str] = {}


@pytest.fixture(params=sorted(STORES))
def kind(request: pytest.FixtureRequest) -> StoreKind:
    if request.param == "couch":
        COUCH["url"] = request.getfixturevalue("couch_url")
    elif request.param == "apache_couchdb":
        # one fresh database per test (skipped with the fixture's notice without CouchDB)
        COUCH["apache_db"] = request.getfixturevalue("apache_couchdb_db")
    return STORES[request.param]


@pytest.fixture
def store(kind: StoreKind, tmp_path: Path) -> Iterator[Store]:
    with kind.make(tmp_path) as opened:
        yield opened


def changed_since(store: Store, since: object) -> list[str]:
    """The ids the feed lists after `since`. Sequences are opaque (CouchDB's differ
    between two calls at the same point), so two points are compared only this way:
    by resuming from one and seeing what comes."""
    return [row["id"] for row in store.changes(since=since)]


# -- info ---------------------------------------------------------------------------------------


def test_info_of_an_empty_store(store: Store) -> None:
    info = store.info()
    assert info["doc_count"] == 0 and info["doc_del_count"] in (0, None)  # None: not reported
    assert "update_seq" in info and info["instance_start_time"]


def test_info_counts_live_and_deleted(store: Store) -> None:
    r = store.put({"_id": "a", "v": 1})
    store.put({"_id": "b", "v": 1})
    store.put({"_id": "a", "_rev": r, "_deleted": True})
    info = store.info()
    assert info["doc_count"] == 1 and info["doc_del_count"] in (1, None)  # None: not reported


def test_instance_start_time_is_stable_across_reopen(kind: StoreKind, tmp_path: Path) -> None:
    with kind.make(tmp_path) as first:
        first.put({"_id": "a"})
        before = first.info()["instance_start_time"]
    with kind.make(tmp_path) as second:
        assert second.info()["instance_start_time"] == before
        assert second.get("a")["_id"] == "a"


# -- put and get --------------------------------------------------------------------------------


def test_create_then_get(store: Store) -> None:
    r = store.put({"_id": "visit:1", "text": "王大爷理发 haircut"})
    assert r.startswith("1-") and len(r) == 34
    doc = store.get("visit:1")
    assert doc == {"_id": "visit:1", "_rev": r, "text": "王大爷理发 haircut"}


def test_get_missing_document(store: Store) -> None:
    with pytest.raises(NotFound) as caught:
        store.get("nope")
    assert caught.value.reason == "missing"


def test_update_needs_the_current_rev(store: Store) -> None:
    r1 = store.put({"_id": "a", "v": 1})
    r2 = store.put({"_id": "a", "_rev": r1, "v": 2})
    assert r2.startswith("2-")
    with pytest.raises(Conflict):
        store.put({"_id": "a", "_rev": r1, "v": 3})
    with pytest.raises(Conflict):
        store.put({"_id": "a", "v": 4})
    assert store.get("a")["v"] == 2


def test_update_with_a_rev_that_does_not_exist_names_it(store: Store) -> None:
    store.put({"_id": "a", "v": 1})
    with pytest.raises(Conflict) as caught:
        store.put({"_id": "a", "_rev": rev(1, "e"), "v": 2})
    assert caught.value.status == 409
    assert store.get("a")["v"] == 1


def test_same_edit_gives_the_same_revision(kind: StoreKind, tmp_path: Path) -> None:
    if "deterministic_revs" not in kind.capabilities:
        pytest.skip("store generates random revision ids")
    with kind.make(tmp_path) as store:
        r1 = store.put({"_id": "a", "v": 1, "text": "水源"})
        seq = store.info()["update_seq"]
        # a retry after a lost answer: same parent, same body -> same rev, no write
        assert store.put({"_id": "a", "v": 1, "text": "水源"}) == r1
        assert changed_since(store, seq) == []
        r2 = store.put({"_id": "a", "_rev": r1, "v": 2})
        after_r2 = store.info()["update_seq"]
        assert store.put({"_id": "a", "_rev": r1, "v": 2}) == r2
        assert changed_since(store, after_r2) == []
        (row,) = store.changes(since=seq)
        assert row["id"] == "a" and row["changes"] == [{"rev": r2}]
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    with kind.make(other_dir) as other:
        assert other.put({"_id": "a", "text": "水源", "v": 1}) == r1  # key order is irrelevant


def test_delete_and_recreate(store: Store) -> None:
    r1 = store.put({"_id": "a", "v": 1})
    r2 = store.put({"_id": "a", "_rev": r1, "_deleted": True})
    with pytest.raises(NotFound) as caught:
        store.get("a")
    assert caught.value.reason in ("deleted", "missing")  # PouchDB Server says "missing"
    assert store.get("a", rev=r2)["_deleted"] is True
    r3 = store.put({"_id": "a", "v": 3})  # recreating extends the tombstone
    assert r3.startswith("3-")
    assert store.get("a", revs=True)["_revisions"]["start"] == 3


def test_get_with_revs_and_an_old_rev(store: Store) -> None:
    r1 = store.put({"_id": "a", "v": 1})
    r2 = store.put({"_id": "a", "_rev": r1, "v": 2})
    doc = store.get("a", revs=True)
    assert doc["_revisions"] == {"start": 2, "ids": [r2[2:], r1[2:]]}
    with pytest.raises(NotFound):
        store.get("a", rev=rev(7, "a"))


# -- bulk_docs ----------------------------------------------------------------------------------


def test_bulk_docs_reports_each_document(store: Store) -> None:
    rows = store.bulk_docs([{"_id": "a", "v": 1}, {"_id": "bad/id"}, {"_id": "c", "v": 3}])
    assert [row.get("ok") for row in rows] == [True, None, True]
    assert rows[1]["error"] == "bad_request" and "/" in rows[1]["reason"]
    assert {row["id"] for row in store.all_docs()} == {"a", "c"}


def test_bulk_docs_same_id_twice_in_one_batch(store: Store) -> None:
    rows = store.bulk_docs([{"_id": "a", "v": 1}, {"_id": "a", "v": 2}])
    assert rows[0]["ok"] is True and rows[1]["error"] == "conflict"


def test_replicated_conflicts_and_winner(store: Store) -> None:
    assert (
        store.bulk_docs(
            [
                replicated("d", [rev(2, "a"), rev(1, "a")], v="a"),
                replicated("d", [rev(2, "b"), rev(1, "a")], v="b"),
                replicated("d", [rev(3, "c"), rev(2, "c"), rev(1, "a")], deleted=True),
            ],
            new_edits=False,
        )
        == []
    )
    doc = store.get("d", conflicts=True, deleted_conflicts=True)
    assert doc["_rev"] == rev(2, "b")  # live beats deleted; then the higher rev id
    assert doc["_conflicts"] == [rev(2, "a")]
    assert doc["_deleted_conflicts"] == [rev(3, "c")]


def test_replicated_writes_are_idempotent(store: Store) -> None:
    docs = [replicated("d", [rev(2, "a"), rev(1, "a")], v=1)]
    store.bulk_docs(docs, new_edits=False)
    seq = store.info()["update_seq"]
    assert store.bulk_docs(docs, new_edits=False) == []
    assert changed_since(store, seq) == []  # nothing new to replicate onwards
    assert [row["id"] for row in store.changes()] == ["d"]


def test_replicated_document_without_rev_is_refused(store: Store) -> None:
    rows = store.bulk_docs([{"_id": "d", "v": 1}], new_edits=False)
    assert rows == [{"id": "d", "error": "bad_request", "reason": rows[0]["reason"]}]


def test_forged_history_is_refused(kind: StoreKind, store: Store) -> None:
    if "refuses_forged_history" not in kind.capabilities:
        pytest.skip("the peer merges any path it is given (CouchDB does)")
    store.bulk_docs([replicated("d", [rev(2, "a"), rev(1, "a")])], new_edits=False)
    rows = store.bulk_docs([replicated("d", [rev(2, "a"), rev(1, "f")])], new_edits=False)
    # rev 2-a is known already: its parent cannot be swapped, not even on a replay
    assert rows[0]["error"] == "bad_request" and "history" in rows[0]["reason"]
    rows = store.bulk_docs(
        [replicated("d", [rev(3, "a"), rev(2, "a"), rev(1, "f")])], new_edits=False
    )
    assert rows[0]["error"] == "bad_request" and "history" in rows[0]["reason"]
    assert store.get("d", revs=True)["_revisions"]["ids"] == [rev(2, "a")[2:], rev(1, "a")[2:]]


def test_open_revs(store: Store) -> None:
    store.bulk_docs(
        [
            replicated("d", [rev(2, "a"), rev(1, "a")], v="a"),
            replicated("d", [rev(2, "b"), rev(1, "a")], deleted=True),
        ],
        new_edits=False,
    )
    found = store.open_revs("d", "all")
    assert sorted(item["ok"]["_rev"] for item in found) == [rev(2, "a"), rev(2, "b")]
    deleted = next(i["ok"] for i in found if i["ok"]["_rev"] == rev(2, "b"))
    assert deleted["_deleted"] is True and deleted["_revisions"]["start"] == 2
    assert store.open_revs("d", [rev(2, "a"), rev(5, "e")])[1] == {"missing": rev(5, "e")}
    assert store.open_revs("nobody", "all") == []


# -- changes ------------------------------------------------------------------------------------


def test_changes_lists_each_document_once_at_its_newest_seq(kind: StoreKind, store: Store) -> None:
    r = store.put({"_id": "a", "v": 1})
    store.put({"_id": "b", "v": 1})
    between = store.info()["update_seq"]
    r2 = store.put({"_id": "a", "_rev": r, "v": 2})
    feed = store.changes()
    rows = list(feed)
    # Order across documents is the store's own (CouchDB's shards interleave), so
    # "at its newest seq" is checked by resuming: only `a` changed after `between`.
    assert sorted(row["id"] for row in rows) == ["a", "b"]
    assert next(row for row in rows if row["id"] == "a")["changes"] == [{"rev": r2}]
    assert changed_since(store, between) == ["a"]
    assert changed_since(store, feed.last_seq) == []
    assert changed_since(store, rows[-1]["seq"]) == []
    if "write_order" in kind.capabilities:
        assert [row["id"] for row in rows] == ["b", "a"]


def test_changes_resume_from_any_row_gives_exactly_the_rows_after_it(
    kind: StoreKind, store: Store
) -> None:
    """Write order is not promised (CouchDB interleaves its shards' feeds, differently
    from one call to the next), but resuming from any row's seq gives exactly the rows
    the feed had not given yet: none again, none lost."""
    for i in range(6):
        store.put({"_id": f"d{i}", "i": i})
    rows = list(store.changes())
    ids = [row["id"] for row in rows]
    assert sorted(ids) == [f"d{i}" for i in range(6)]
    for index, row in enumerate(rows):
        after = changed_since(store, row["seq"])
        assert sorted(after) == sorted(ids[index + 1 :])
        if "write_order" in kind.capabilities:
            assert after == ids[index + 1 :]


def test_changes_since_limit_and_resume(kind: StoreKind, store: Store) -> None:
    for i in range(7):
        store.put({"_id": f"d{i}", "i": i})
    seen = []
    since = 0
    while True:
        feed = store.changes(since=since, limit=3)
        rows = list(feed)
        if not rows:
            break
        assert len(rows) <= 3
        seen += [row["id"] for row in rows]
        since = feed.last_seq
    assert sorted(seen) == [f"d{i}" for i in range(7)]  # each once: none lost or repeated
    if "write_order" in kind.capabilities:
        assert seen == [f"d{i}" for i in range(7)]


def test_changes_options(kind: StoreKind, store: Store) -> None:
    store.bulk_docs(
        [
            replicated("c", [rev(1, "a")], type="patrol"),
            replicated("c", [rev(1, "b")], type="patrol"),
        ],
        new_edits=False,
    )
    r = store.put({"_id": "gone", "type": "patrol"})
    store.put({"_id": "gone", "_rev": r, "_deleted": True})
    store.put({"_id": "w", "type": "water_source", "people": 120})
    rows = {row["id"]: row for row in store.changes(style="all_docs", include_docs=True)}
    assert {c["rev"] for c in rows["c"]["changes"]} == {rev(1, "a"), rev(1, "b")}
    assert rows["gone"]["deleted"] is True
    assert rows["w"]["doc"]["people"] == 120
    by_ids = [r["id"] for r in store.changes(doc_ids=["w", "c"])]
    assert sorted(by_ids) == ["c", "w"]
    if "write_order" in kind.capabilities:
        assert by_ids == ["c", "w"]
    feed = store.changes(selector={"type": "water_source", "people": {"$gte": 100}})
    assert [row["id"] for row in feed] == ["w"]
    # last_seq is past every row scanned, and exactly there: a later write comes next
    assert changed_since(store, feed.last_seq) == []
    store.put({"_id": "later"})
    assert changed_since(store, feed.last_seq) == ["later"]


def test_changes_selector_skips_to_the_end_even_when_nothing_matches(store: Store) -> None:
    for i in range(5):
        store.put({"_id": f"d{i}", "type": "patrol"})
    feed = store.changes(selector={"type": "home_visit"})
    assert list(feed) == []
    assert changed_since(store, feed.last_seq) == []  # at the end, not back at 0...
    store.put({"_id": "later", "type": "patrol"})
    assert changed_since(store, feed.last_seq) == ["later"]  # ...and not beyond it


def test_changes_streams_past_one_page(kind: StoreKind, store: Store) -> None:
    store.bulk_docs([{"_id": f"doc{i:05d}", "i": i} for i in range(1234)])
    feed = store.changes(include_docs=True)
    first = next(feed)
    store.put({"_id": "late", "i": -1})  # writing mid-iteration must not break the feed
    ids = [first["id"]] + [row["id"] for row in feed]
    assert sorted(ids) == sorted([f"doc{i:05d}" for i in range(1234)] + ["late"])
    if "write_order" in kind.capabilities:
        assert ids[0] == "doc00000" and ids[-1] == "late"


def test_changes_bad_arguments(kind: StoreKind, store: Store) -> None:
    with pytest.raises(BadRequest):
        list(store.changes(style="sideways"))
    with pytest.raises(BadRequest):
        list(store.changes(selector={"type": {"$almost": 1}}))
    if "checks_since" in kind.capabilities:
        with pytest.raises(BadRequest):
            list(store.changes(since="not-a-seq"))


# -- revs_diff and bulk_get ---------------------------------------------------------------------


def test_revs_diff(kind: StoreKind, store: Store) -> None:
    store.bulk_docs([replicated("d", [rev(2, "a"), rev(1, "a")])], new_edits=False)
    diff = store.revs_diff({"d": [rev(2, "a"), rev(3, "b")], "e": [rev(1, "e")]})
    assert diff["d"]["missing"] == [rev(3, "b")]
    if "knows_ancestors" in kind.capabilities:
        assert store.revs_diff({"d": [rev(1, "a")]}) == {}
    # possible_ancestors is optional in the protocol (PouchDB Server leaves it out)
    assert diff["d"].get("possible_ancestors", [rev(2, "a")]) == [rev(2, "a")]
    assert diff["e"] == {"missing": [rev(1, "e")]}
    assert store.revs_diff({"d": [rev(2, "a")]}) == {}


def test_bulk_get(store: Store) -> None:
    store.bulk_docs([replicated("d", [rev(2, "a"), rev(1, "a")], v=1)], new_edits=False)
    results = store.bulk_get(
        [{"id": "d", "rev": rev(2, "a")}, {"id": "d", "rev": rev(9, "f")}, {"id": "zz"}]
    )
    assert [r["id"] for r in results] == ["d", "d", "zz"]
    ok = results[0]["docs"][0]["ok"]
    assert ok["v"] == 1 and ok["_revisions"]["ids"] == [rev(2, "a")[2:], rev(1, "a")[2:]]
    assert results[1]["docs"][0]["error"]["error"] == "not_found"
    assert results[2]["docs"][0]["error"]["id"] == "zz"


# -- all_docs and _local ------------------------------------------------------------------------


def test_all_docs(store: Store) -> None:
    for doc_id in ["c", "a", "b", "d"]:
        store.put({"_id": doc_id})
    r = store.get("d")["_rev"]
    store.put({"_id": "d", "_rev": r, "_deleted": True})
    assert [row["id"] for row in store.all_docs()] == ["a", "b", "c"]
    assert [row["id"] for row in store.all_docs(start_key="b", limit=1)] == ["b"]
    assert [row["id"] for row in store.all_docs(start_key="b", end_key="c")] == ["b", "c"]
    rows = list(store.all_docs(keys=["a", "d", "x"], include_docs=True))
    assert rows[0]["doc"]["_id"] == "a"
    assert rows[1]["value"]["deleted"] is True and rows[1]["doc"] is None
    assert rows[2] == {"key": "x", "error": "not_found"}


def test_local_ids_may_look_like_pouchdb_replication_ids(store: Store) -> None:
    """PouchDB names checkpoints with base64 (`.` and `_` for `/` and `+`), so a
    `_local` id can start with '_' and end with '=' (found when CI's PouchDB drew one)."""
    rev = store.put_local({"_id": "_local/_z10yNRGKBkASwbz9jat9A==", "seq": 1})
    assert store.get_local("_z10yNRGKBkASwbz9jat9A==")["_rev"] == rev
    with pytest.raises(BadRequest):
        store.put_local({"_id": "_local/a/b"})


def test_local_documents(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get_local("checkpoint")
    r1 = store.put_local({"_id": "_local/checkpoint", "seq": 1})
    r2 = store.put_local({"_id": "_local/checkpoint", "_rev": r1, "seq": 2})
    assert r2 != r1
    with pytest.raises(Conflict):
        store.put_local({"_id": "_local/checkpoint", "_rev": r1, "seq": 3})
    assert store.get_local("checkpoint")["seq"] == 2
    assert list(store.changes()) == [] and list(store.all_docs()) == []
    with pytest.raises(Conflict):
        store.delete_local("checkpoint", r1)
    store.delete_local("checkpoint", r2)
    with pytest.raises(NotFound):
        store.get_local("checkpoint")


# -- attachments --------------------------------------------------------------------------------


def test_attachments_inline_stub_and_fetch(store: Store) -> None:
    photo = "泉水照片".encode() * 100
    r1 = store.put(
        {
            "_id": "w",
            "_attachments": {"spring.jpg": {"content_type": "image/jpeg", "data": b64(photo)}},
        }
    )
    r2 = store.put(
        {"_id": "w", "_rev": r1, "status": "piped", "_attachments": {"spring.jpg": {"stub": True}}}
    )
    stub = store.get("w")["_attachments"]["spring.jpg"]
    assert stub["stub"] is True and stub["length"] == len(photo) and stub["revpos"] == 1
    assert stub["digest"].startswith("md5-")
    attachment = store.get_attachment("w", "spring.jpg")
    assert attachment.data == photo and attachment.content_type == "image/jpeg"
    full = store.get("w", attachments=True)["_attachments"]["spring.jpg"]
    assert base64.b64decode(full["data"]) == photo
    since = store.get("w", attachments=True, atts_since=[r1])["_attachments"]["spring.jpg"]
    assert since.get("stub") is True  # the asker already holds revpos 1
    assert store.get("w", rev=r2)["status"] == "piped"
    with pytest.raises(NotFound):
        store.get_attachment("w", "other.jpg")


def test_attachment_stub_without_parent_data_is_refused(store: Store) -> None:
    r1 = store.put({"_id": "w", "v": 1})
    with pytest.raises(PreconditionFailed):
        store.put({"_id": "w", "_rev": r1, "_attachments": {"x.jpg": {"stub": True}}})


def test_replicated_stub_cannot_borrow_another_documents_attachment(
    kind: StoreKind, store: Store
) -> None:
    if "scoped_stubs" not in kind.capabilities:
        pytest.skip("the peer resolves stubs its own way")
    secret = b"household register photo"
    store.put(
        {
            "_id": "private",
            "_attachments": {"id.jpg": {"content_type": "image/jpeg", "data": b64(secret)}},
        }
    )
    digest = store.get("private")["_attachments"]["id.jpg"]["digest"]
    stub = {"stub": True, "digest": digest, "revpos": 1, "content_type": "image/jpeg"}
    rows = store.bulk_docs(
        [{**replicated("mine", [rev(1, "a")]), "_attachments": {"x.jpg": stub}}],
        new_edits=False,
    )
    assert rows and rows[0]["id"] == "mine"
    with pytest.raises(NotFound):
        store.get("mine")


def test_mislabelled_attachment_is_refused(store: Store) -> None:
    with pytest.raises(BadRequest) as caught:
        store.put(
            {
                "_id": "w",
                "_attachments": {
                    "a.txt": {
                        "content_type": "text/plain",
                        "data": b64(b"abc"),
                        "digest": "md5-AAAAAAAAAAAAAAAAAAAAAA==",
                    }
                },
            }
        )
    assert "digest" in caught.value.reason
    with pytest.raises(BadRequest):
        store.put({"_id": "w", "_attachments": {"a.txt": {"data": "not base64!!"}}})


# -- bad input: a clear error naming the problem, nothing stored changes ------------------------

BAD_DOCUMENTS = [
    pytest.param(["not", "an", "object"], "object", id="not-an-object"),
    pytest.param({"v": 1}, "document id", id="no-id"),
    pytest.param({"_id": 42}, "string", id="id-not-a-string"),
    pytest.param({"_id": "a/b"}, "'/'", id="id-with-slash"),
    pytest.param({"_id": "../etc"}, "'/'", id="id-with-dotdot"),
    pytest.param({"_id": ".."}, "'..'", id="id-dotdot-alone"),
    pytest.param({"_id": "a\x00b"}, "control", id="id-with-nul"),
    pytest.param({"_id": "a\nb"}, "control", id="id-with-newline"),
    pytest.param({"_id": "村" * 171}, "512", id="id-over-512-bytes"),
    pytest.param({"_id": "_design"}, "reserved", id="id-reserved"),
    pytest.param({"_id": "a", "v": {1, 2}}, "set", id="set-value"),
    pytest.param({"_id": "a", "v": b"bytes"}, "bytes", id="bytes-value"),
    pytest.param({"_id": "a", "v": float("nan")}, "JSON number", id="nan"),
    pytest.param(
        {"_id": "a", "v": float("nan"), "t": (1, 2)}, "JSON number", id="nan-after-a-tuple"
    ),
    pytest.param({"_id": "a", "v": {1: "x"}}, "not a string", id="non-string-key"),
    pytest.param({"_id": "a", "v": "\ud800"}, "UTF-8", id="unpaired-surrogate"),
    pytest.param({"_id": "a", "_secret": 1}, "_secret", id="unknown-special-member"),
    pytest.param({"_id": "a", "_deleted": "yes"}, "_deleted", id="deleted-not-bool"),
    pytest.param({"_id": "a", "_rev": "abc"}, "rev", id="malformed-rev"),
    pytest.param({"_id": "a", "_rev": "1-" + "g" * 32}, "hex", id="rev-not-hex"),
]


@pytest.mark.parametrize(("doc", "named"), BAD_DOCUMENTS)
def test_bad_documents_get_a_clear_error_and_change_nothing(
    store: Store, doc: object, named: str
) -> None:
    store.put({"_id": "a", "v": "original"})
    before = store.info()["update_seq"]
    with pytest.raises(StoreError) as caught:
        store.put(doc)  # type: ignore[arg-type]
    assert caught.value.status in (400, 409, 413)
    assert named in caught.value.reason
    assert changed_since(store, before) == []
    assert store.get("a")["v"] == "original"


def test_deeply_nested_document_is_refused(store: Store) -> None:
    nested: object = "leaf"
    for _ in range(200):
        nested = {"n": nested}
    with pytest.raises(BadRequest) as caught:
        store.put({"_id": "deep", "v": nested})
    assert "nested" in caught.value.reason


def test_body_over_the_limit_is_refused_with_the_limit(store: Store) -> None:
    with pytest.raises(TooLarge) as caught:
        store.put({"_id": "big", "text": "走访" * 40_000})
    assert "limit" in caught.value.reason and str(64 * 1024) in caught.value.reason
    with pytest.raises(NotFound):
        store.get("big")


def test_bad_documents_in_a_bulk_do_not_stop_the_good_ones(store: Store) -> None:
    rows = store.bulk_docs([{"_id": "ok1"}, {"_id": "a\x01"}, "junk", {"_id": "ok2"}])
    assert [row.get("ok", False) for row in rows] == [True, False, False, True]


# -- concurrency --------------------------------------------------------------------------------


def test_threads_write_concurrently_without_loss(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                store.put({"_id": f"t{n}-{i}", "n": n})
            store.bulk_docs([{"_id": f"t{n}-bulk{i}"} for i in range(25)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = list(store.changes())
    assert len(rows) == 400 == len({row["seq"] for row in rows})
    assert store.info()["doc_count"] == 400


# -- arguments: checked once, in `Store`, the same for every store -------------------------------

BAD_ARGUMENTS = [
    pytest.param(lambda s: s.get("a", atts_since="1-a"), "atts_since", id="atts-since-a-string"),
    pytest.param(lambda s: s.get("a", rev="abc"), "rev", id="get-malformed-rev"),
    pytest.param(lambda s: s.open_revs("a", "sideways"), "open_revs", id="open-revs-neither"),
    pytest.param(lambda s: s.revs_diff({"a": "1-a"}), "must be a list", id="revs-diff-not-list"),
    pytest.param(lambda s: s.revs_diff(["a"]), "_revs_diff", id="revs-diff-not-object"),
    pytest.param(lambda s: s.revs_diff({"a/b": []}), "'/'", id="revs-diff-bad-id"),
    pytest.param(lambda s: list(s.all_docs(keys="a")), "keys", id="all-docs-keys-a-string"),
    pytest.param(lambda s: list(s.all_docs(limit=-1)), "limit", id="all-docs-negative-limit"),
    pytest.param(lambda s: list(s.all_docs(start_key=5)), "start_key", id="all-docs-start-key"),
    pytest.param(lambda s: list(s.changes(doc_ids="abc")), "doc_ids", id="changes-ids-a-string"),
    pytest.param(lambda s: list(s.changes(limit="3")), "limit", id="changes-limit-a-string"),
    pytest.param(lambda s: list(s.changes(since="now")), "since", id="changes-since-now"),
    pytest.param(lambda s: s.bulk_get({"id": "a"}), "_bulk_get", id="bulk-get-not-a-list"),
    pytest.param(lambda s: s.bulk_get([["a"]]), "_bulk_get", id="bulk-get-not-objects"),
    pytest.param(lambda s: s.get_attachment("a", ""), "attachment", id="attachment-no-name"),
    pytest.param(lambda s: s.put_local({"_id": "_local/c", "_rev": 5}), "_rev", id="local-rev"),
    pytest.param(lambda s: s.bulk_docs([{"_id": "b"}], new_edits="no"), "new_edits", id="edits"),
]


@pytest.mark.parametrize(("call", "named"), BAD_ARGUMENTS)
def test_bad_arguments_get_the_same_error_from_every_store(
    store: Store, call: Callable[[Store], object], named: str
) -> None:
    """Once each store checked (some of) its arguments itself: CouchStore passed an
    `atts_since` string on to the peer, SqliteStore iterated it, neither checked
    `keys`. Now `Store` checks every argument before a backend sees it."""
    store.put({"_id": "a", "v": 1})
    with pytest.raises(BadRequest) as caught:
        call(store)
    assert named in caught.value.reason
    assert [row["id"] for row in store.all_docs()] == ["a"]  # nothing was written


def test_a_bad_bulk_get_request_spoils_only_its_own_answer(store: Store) -> None:
    """CouchDB answers each request of a `_bulk_get` on its own; CouchStore once refused
    the whole call for one bad id (SqliteStore answered it alone)."""
    r = store.put({"_id": "a", "v": 1})
    results = store.bulk_get([{"id": "a/b"}, {"id": "a", "rev": r}, {"id": "a", "rev": "junk"}])
    assert [result["id"] for result in results] == ["a/b", "a", "a"]
    refused = results[0]["docs"][0]["error"]
    assert refused["error"] == "bad_request" and "'/'" in refused["reason"]
    assert results[1]["docs"][0]["ok"]["v"] == 1
    assert results[2]["docs"][0]["error"]["error"] == "bad_request"


def test_a_backend_gets_its_arguments_checked_and_normalized(tmp_path: Path) -> None:
    """A backend implements primitives on arguments the public method normalized:
    revisions in their one spelling, lists for `atts_since`, the filters compiled."""
    seen: list[tuple] = []

    class Recording(SqliteStore):
        def _get(self, doc_id: str, rev: str | None, **options: object) -> dict:
            seen.append((doc_id, rev, options["atts_since"]))
            return super()._get(doc_id, rev, **options)  # type: ignore[arg-type]

    with Recording(tmp_path / "r.sqlite") as store:
        r = store.put({"_id": "a", "v": 1})
        shouted = "1-" + r[2:].upper()
        assert store.get("a", rev=shouted, atts_since=[shouted])["_rev"] == r
    assert seen == [("a", r, [r])]
