"""Our replicator and real PouchDB (npm `pouchdb` in Node) replicate with the same
test server and read each other's documents, revisions, conflicts and attachments
identically."""

from __future__ import annotations

import base64
from pathlib import Path

from support.pouchdb_client import PouchDB, PouchHandle
from support.replicas import couch_store, fill, rev, snapshot, snapshot_of, sqlite_store

from sync.replicator import replicate


def pouch_snapshot(pouch: PouchDB, db: PouchHandle) -> dict[str, tuple]:
    """The same view as `replicas.snapshot`, read through PouchDB."""
    return snapshot_of(
        (row["id"] for row in pouch.changes(db, style="all_docs")["results"]),
        lambda doc_id: pouch.get(db, doc_id, open_revs="all", revs=True),
        lambda doc_id, rev: pouch.get(db, doc_id, rev=rev),
    )


def test_pouchdb_reads_what_our_replicator_pushed(
    tmp_path: Path, couch_url: str, pouch: PouchDB
) -> None:
    with sqlite_store(tmp_path, "tablet") as tablet, couch_store(couch_url, "srv") as server:
        fill(tablet)
        assert replicate(tablet, server, batch_size=40).ok
        local = pouch.open_local("reader")
        result = pouch.replicate(pouch.open_remote(server.url), local)
        assert result["ok"] and result["doc_write_failures"] == 0
        assert pouch_snapshot(pouch, local) == snapshot(tablet)
        photo = pouch.get_attachment(local, "water:1", "spring.jpg")
        assert photo == "水源照片".encode() * 300


def test_our_replicator_reads_what_pouchdb_pushed(
    tmp_path: Path, couch_url: str, pouch: PouchDB
) -> None:
    local = pouch.open_local("writer")
    written = pouch.bulk_docs(
        local, [{"_id": f"patrol:{i:03d}", "place": "422827101", "i": i} for i in range(150)]
    )
    assert all(row.get("ok") for row in written)
    edited = pouch.put(local, {"_id": "patrol:000", "_rev": written[0]["rev"], "i": -1})
    pouch.remove(local, "patrol:001", written[1]["rev"])
    pouch.bulk_docs(
        local,
        [
            {
                "_id": "household:z",
                "_rev": rev(2, "a"),
                "size": 3,
                "_revisions": {"start": 2, "ids": [rev(2, "a")[2:], rev(1, "a")[2:]]},
            },
            {
                "_id": "household:z",
                "_rev": rev(2, "b"),
                "size": 4,
                "_revisions": {"start": 2, "ids": [rev(2, "b")[2:], rev(1, "a")[2:]]},
            },
        ],
        new_edits=False,
    )
    pouch.put_attachment(
        local,
        "patrol:000",
        "track.gpx",
        "<gpx>轨迹</gpx>".encode(),
        "application/gpx+xml",
        rev=edited["rev"],
    )
    with couch_store(couch_url, "srv") as server, sqlite_store(tmp_path, "hub") as hub:
        result = pouch.replicate(local, pouch.open_remote(server.url), batch_size=25)
        assert result["ok"] and result["doc_write_failures"] == 0
        pulled = replicate(server, hub, batch_size=30)
        assert pulled.ok, pulled.failures
        assert snapshot(hub) == pouch_snapshot(pouch, local)
        assert hub.get("household:z", conflicts=True)["_conflicts"] == [rev(2, "a")]
        assert hub.get_attachment("patrol:000", "track.gpx").data == "<gpx>轨迹</gpx>".encode()


def test_both_replicators_pushing_the_same_history_create_nothing_new(
    tmp_path: Path, couch_url: str, pouch: PouchDB
) -> None:
    with sqlite_store(tmp_path, "tablet") as tablet, couch_store(couch_url, "srv") as server:
        fill(tablet)
        local = pouch.open_local("copy")
        assert replicate(tablet, server).ok
        pouch.replicate(pouch.open_remote(server.url), local)
        before = snapshot(server)
        pushed = pouch.replicate(local, pouch.open_remote(server.url))
        assert pushed["docs_written"] == 0
        assert replicate(tablet, server).docs_written == 0
        assert snapshot(server) == before
        attachment = server.get("water:1", attachments=True)["_attachments"]["spring.jpg"]
        assert base64.b64decode(attachment["data"]) == "水源照片".encode() * 300
