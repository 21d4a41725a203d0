"""SqliteStore specifics the Store contract cannot see: what is left in the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support.replicas import b64

from sync import SqliteStore
from sync.errors import Conflict, PreconditionFailed


def blobs(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM attachments").fetchone()[0]


def test_a_refused_edit_leaves_no_attachment_data_behind(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with SqliteStore(path) as store:
        rev = store.put({"_id": "w", "v": 1})
        new = {"content_type": "image/jpeg", "data": b64(b"photo of the spring")}
        with pytest.raises(PreconditionFailed):  # a stub the parent does not have
            store.put(
                {"_id": "w", "_rev": rev, "_attachments": {"a.jpg": new, "b.jpg": {"stub": True}}}
            )
        store.put({"_id": "w", "_rev": rev, "v": 2})
        with pytest.raises(Conflict):  # a stale parent
            store.put({"_id": "w", "_rev": rev, "_attachments": {"a.jpg": new}})
    assert blobs(path) == 0


def test_attachment_data_is_kept_once_and_collected_with_its_last_revision(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    photo = {"content_type": "image/jpeg", "data": b64(b"the same photo")}
    with SqliteStore(path) as store:
        first = store.put({"_id": "a", "_attachments": {"p.jpg": photo}})
        store.put({"_id": "b", "_attachments": {"p.jpg": photo}})
        assert blobs(path) == 1  # deduplicated by digest
        store.put({"_id": "a", "_rev": first, "_deleted": True})
        assert blobs(path) == 1  # still held by b
        second = store.get("b")["_rev"]
        store.put({"_id": "b", "_rev": second, "_deleted": True})
    assert blobs(path) == 0


def test_numbers_come_back_exactly_as_stored(tmp_path: Path) -> None:
    """Bodies are written and read with orjson where it is exact and the standard
    library where it is not (integers beyond 64 bits): nothing changes type or value."""
    body = {
        "big": 12345678901234567890123456789,
        "negative_big": -(2**70),
        "int64": 2**63 - 1,
        "float": 0.1,
        "tiny": 1e-7,
        "whole_float": 3.0,
        "text": "水源 ２号 \u2028",
    }
    with SqliteStore(tmp_path / "s.sqlite") as store:
        store.put({"_id": "n", **body})
        got = store.get("n")
    for key, value in body.items():
        assert got[key] == value and type(got[key]) is type(value), key


def test_changes_with_more_doc_ids_than_one_sqlite_statement_takes(tmp_path: Path) -> None:
    """`changes(doc_ids=...)` once put every id in one statement, and past SQLite's
    32,766 variables it failed ("too many SQL variables"). 40,000 ids now work, with
    the same rows, order, limit and resume as the unfiltered feed gives."""
    with SqliteStore(tmp_path / "s.sqlite") as store:
        # As a stock SQLite build allows (a tablet's; this Debian build allows 250,000).
        store._db.connection().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
        store.bulk_docs([{"_id": f"d{i:05d}", "i": i} for i in range(3000)])
        held = [f"d{i:05d}" for i in range(0, 3000, 3)]
        wanted = held + [f"absent{i:05d}" for i in range(40_000 - len(held))]
        assert len(wanted) == 40_000
        chosen = set(wanted)
        expected = [row for row in store.changes() if row["id"] in chosen]
        assert len(expected) == 1000
        assert list(store.changes(doc_ids=wanted)) == expected
        first = store.changes(doc_ids=wanted, limit=700)
        rows = list(first)
        rest = list(store.changes(since=first.last_seq, doc_ids=wanted))
        assert rows + rest == expected

        # The feed is live, as the unfiltered one: written mid-iteration, a wanted document
        # comes (at its new seq), an unwanted one does not.
        feed = store.changes(doc_ids=wanted, include_docs=True)
        seen = [next(feed)["id"]]
        last = store.get(held[-1])
        store.put({**last, "i": -1})
        store.put({"_id": "absent00007"})
        store.put({"_id": "unwanted"})
        seen += [row["id"] for row in feed]
        assert seen == held + ["absent00007"]
        assert list(store.changes(since=feed.last_seq, doc_ids=wanted)) == []


def test_stores_with_different_revs_limits_agree_on_the_winner(tmp_path: Path) -> None:
    """A tablet keeping 2 revisions and a hub keeping 1,000 both held 1-a, 2-a; the tablet
    then edited to 3-a and deleted at 4-a, and stemmed 1-a, 2-a away. The hub gets
    4-a's path as [4-a, 3-a], so its 2-a stays a live leaf, and wins. The tablet once
    re-attached the 2-a the hub sent back and stemmed it away again: it said deleted,
    the hub alive, and every sync re-sent 2-a. Now 2-a stands apart on both (as on
    CouchDB): both say alive at 2-a, and a second sync has nothing to send."""
    from support.replicas import replicated, rev

    from sync.replicator import sync

    history = [rev(4, "a"), rev(3, "a"), rev(2, "a"), rev(1, "a")]
    with (
        SqliteStore(tmp_path / "tablet.sqlite", revs_limit=2) as tablet,
        SqliteStore(tmp_path / "hub.sqlite") as hub,
    ):
        hub.bulk_docs([replicated("d", history[2:], v=2)], new_edits=False)
        tablet.bulk_docs([replicated("d", history, deleted=True)], new_edits=False)
        sync(tablet, hub)
        for store in (tablet, hub):
            assert store.get("d", deleted_conflicts=True)["_rev"] == rev(2, "a")
            assert store.get("d", deleted_conflicts=True)["_deleted_conflicts"] == [rev(4, "a")]
        again = sync(tablet, hub)
        assert [result.docs_written for result in again] == [0, 0]
