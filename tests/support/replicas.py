"""Helpers for replication tests: open stores of each kind, compare what they hold."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from sync import SqliteStore, Store
from sync.couch_store import CouchStore


def sqlite_store(tmp: Path, name: str) -> SqliteStore:
    return SqliteStore(tmp / f"{name}.sqlite")


def couch_store(couch_url: str, name: str) -> CouchStore:
    return CouchStore(f"{couch_url}/{name}-{uuid.uuid4().hex[:12]}", create=True)


def snapshot(store: Store) -> dict[str, tuple]:
    """Per document: winner, conflicts, deleted conflicts, every leaf with its
    history, and attachment digests of the winner. Equal snapshots mean the
    stores hold the same revision trees as far as the protocol can see."""
    return snapshot_of(
        (row["id"] for row in store.changes(style="all_docs")),
        lambda doc_id: store.open_revs(doc_id, "all"),
        lambda doc_id, rev: store.get(doc_id, rev=rev),
    )


def snapshot_of(
    doc_ids: Iterable[str],
    open_all: Callable[[str], list[dict]],
    get_rev: Callable[[str, str], dict],
) -> dict[str, tuple]:
    """`snapshot` for any client: how to list ids, read all leaves, read one revision."""
    held = {}
    for doc_id in doc_ids:
        leaves = sorted(
            (
                item["ok"]["_rev"],
                bool(item["ok"].get("_deleted")),
                tuple(item["ok"]["_revisions"]["ids"]),
            )
            for item in open_all(doc_id)
            if "ok" in item
        )
        live = [rev for rev, deleted, _ in leaves if not deleted]
        winner = max(
            live or [rev for rev, _, _ in leaves],
            key=lambda r: (int(r.split("-")[0]), r.split("-")[1]),
        )
        attachments = get_rev(doc_id, winner).get("_attachments", {})
        digests = tuple(sorted((name, meta["digest"]) for name, meta in attachments.items()))
        held[doc_id] = (
            winner,
            sorted(set(live) - {winner}),
            sorted({r for r, d, _ in leaves if d} - {winner}),
            leaves,
            digests,
        )
    return held


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rev(pos: int, char: str) -> str:
    """A revision id unique per depth, as real ones are (PouchDB mishandles repeats)."""
    return f"{pos}-{char * 31}{pos:x}"


def replicated(doc_id: str, path: list[str], deleted: bool = False, **body: object) -> dict:
    """A document as a replicator sends it with new_edits=false; `path` is leaf first."""
    doc = {
        "_id": doc_id,
        "_rev": path[0],
        "_revisions": {"start": int(path[0].split("-")[0]), "ids": [r[2:] for r in path]},
        **body,
    }
    if deleted:
        doc["_deleted"] = True
    return doc


def fill(store: Store) -> None:
    """Edits, a conflict, a delete, a recreate and an attachment: the awkward cases."""
    store.bulk_docs(
        [{"_id": f"visit:{i:03d}", "place": "422827100201001", "i": i} for i in range(120)]
    )
    r = store.get("visit:000")["_rev"]
    store.put({"_id": "visit:000", "_rev": r, "i": 1000, "note": "复访"})
    store.bulk_docs(
        [
            replicated("household:a", [rev(2, "a"), rev(1, "a")], size=3, place="422827100201"),
            replicated("household:a", [rev(2, "b"), rev(1, "a")], size=4, place="422827100201"),
            replicated("household:a", [rev(3, "c"), rev(2, "c"), rev(1, "a")], deleted=True),
        ],
        new_edits=False,
    )
    r = store.get("visit:001")["_rev"]
    store.put({"_id": "visit:001", "_rev": r, "_deleted": True, "place": "422827100201001"})
    r = store.get("visit:002")["_rev"]
    r = store.put({"_id": "visit:002", "_rev": r, "_deleted": True})
    store.put({"_id": "visit:002", "i": 2, "again": True})
    photo = "水源照片".encode() * 300
    store.put(
        {
            "_id": "water:1",
            "place": "422827101",
            "_attachments": {"spring.jpg": {"content_type": "image/jpeg", "data": b64(photo)}},
        }
    )
    r = store.get("water:1")["_rev"]
    store.put(
        {
            "_id": "water:1",
            "_rev": r,
            "place": "422827101",
            "status": "piped",
            "_attachments": {"spring.jpg": {"stub": True}},
        }
    )
