"""Real PouchDB in Node, driven through tests/peers/pouch_driver.js, against pouchdb-server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests
import support.pouchdb_client as pouchdb_client
from support.pouchdb_client import PouchDB, PouchDriverError, PouchError, PouchHandle, PouchTimeout

# Every test here runs Node, like the pouchdb-server tests: `-m "not peer"` leaves them out.
pytestmark = pytest.mark.peer


def _conflicted_local(pouch: PouchDB, name: str) -> PouchHandle:
    """A memory database holding doc "d" with three 1-revisions, written as a replicator would."""
    db = pouch.open_local(name)
    written = pouch.bulk_docs(
        db,
        [
            {"_id": "d", "_rev": "1-bbb", "v": "b"},
            {"_id": "d", "_rev": "1-aaa", "v": "a"},
            {"_id": "d", "_rev": "1-ccc", "v": "c"},
        ],
        new_edits=False,
    )
    # Like CouchDB, PouchDB answers new_edits=false with no per-doc results at all.
    assert written == []
    return db


def test_local_put_get_and_conflicts_with_new_edits_false(pouch: PouchDB) -> None:
    db = pouch.open_local("phone")
    saved = pouch.put(db, {"_id": "plain", "n": 1})
    assert saved["ok"] is True and saved["rev"].startswith("1-")
    assert pouch.get(db, "plain") == {"_id": "plain", "_rev": saved["rev"], "n": 1}

    _conflicted_local(pouch, "phone")
    doc = pouch.get(db, "d", conflicts=True)
    # The winner is the highest rev id at equal depth; _conflicts is NOT sorted by rev id.
    assert doc["_rev"] == "1-ccc" and doc["v"] == "c"
    assert sorted(doc["_conflicts"]) == ["1-aaa", "1-bbb"]

    # open_revs answers a list of {"ok": doc} / {"missing": rev}, in no guaranteed order.
    leaves = pouch.get(db, "d", open_revs="all")
    assert sorted(entry["ok"]["_rev"] for entry in leaves) == ["1-aaa", "1-bbb", "1-ccc"]
    assert pouch.get(db, "d", open_revs=["1-aaa", "1-zzz"]) == [
        {"ok": {"_id": "d", "_rev": "1-aaa", "v": "a"}},
        {"missing": "1-zzz"},
    ]
    assert pouch.revs_diff(db, {"d": ["1-aaa", "2-xxx"]}) == {"d": {"missing": ["2-xxx"]}}

    # Deleting the winner promotes a conflict. PouchDB 9 ignores deleted_conflicts (it only
    # reserves the field name), so the deleted leaf is seen through open_revs instead.
    pouch.remove(db, "d", "1-ccc")
    doc = pouch.get(db, "d", conflicts=True, deleted_conflicts=True)
    assert doc["_rev"] == "1-bbb" and doc["_conflicts"] == ["1-aaa"]
    assert "_deleted_conflicts" not in doc
    deleted = [e["ok"] for e in pouch.get(db, "d", open_revs="all") if e["ok"].get("_deleted")]
    assert [leaf["_rev"][:2] for leaf in deleted] == ["2-"]

    changes = pouch.changes(db, style="all_docs", include_docs=True)
    by_id = {row["id"]: row for row in changes["results"]}
    assert len(by_id["d"]["changes"]) == 3  # every leaf, the deleted one too
    assert by_id["plain"]["doc"]["n"] == 1
    assert pouch.all_docs(db)["total_rows"] == 2
    assert pouch.info(db)["doc_count"] == 2


def test_errors_come_back_as_pouch_error(pouch: PouchDB) -> None:
    db = pouch.open_local("errors")
    with pytest.raises(PouchError) as missing:
        pouch.get(db, "nope")
    assert (missing.value.name, missing.value.status) == ("not_found", 404)
    assert missing.value.message == "missing"

    first = pouch.put(db, {"_id": "x"})
    with pytest.raises(PouchError) as conflict:
        pouch.put(db, {"_id": "x"})
    assert (conflict.value.name, conflict.value.status) == ("conflict", 409)
    # bulk_docs reports the same failure per document instead of raising.
    assert pouch.bulk_docs(db, [{"_id": "x"}])[0]["status"] == 409

    with pytest.raises(PouchError) as bad_handle:
        pouch.call("info", db=999)
    assert (bad_handle.value.name, bad_handle.value.status) == ("bad_request", 400)
    with pytest.raises(PouchError, match="unknown op"):
        pouch.call("no_such_op")

    # None of that hurt the driver.
    assert pouch.get(db, "x")["_rev"] == first["rev"]


def test_replicate_to_server_and_back_with_conflict_on_both_sides(
    pouch: PouchDB, couch_db: str
) -> None:
    phone = pouch.open_local("phone")
    server = pouch.open_remote(couch_db)
    assert server.remote and pouch.info(server)["adapter"] == "http"
    base = pouch.put(phone, {"_id": "visit", "status": "new"})
    pouch.bulk_docs(phone, [{"_id": f"doc-{n}", "n": n} for n in range(5)])

    pushed = pouch.replicate(phone, server, batch_size=2)
    assert pushed["ok"] is True and pushed["status"] == "complete"
    assert (pushed["docs_written"], pushed["doc_write_failures"], pushed["errors"]) == (6, 0, [])
    assert requests.get(f"{couch_db}/visit", timeout=10).json()["_rev"] == base["rev"]

    # The same document edited on the phone and, independently, on the server.
    pouch.put(phone, {"_id": "visit", "_rev": base["rev"], "status": "phone"})
    on_server = requests.put(
        f"{couch_db}/visit", json={"_rev": base["rev"], "status": "server"}, timeout=10
    )
    assert on_server.status_code == 201, on_server.text

    results = pouch.sync(phone, server)
    assert results["push"]["docs_written"] == 1 and results["pull"]["docs_written"] == 1

    local = pouch.get(phone, "visit", conflicts=True)
    remote = requests.get(f"{couch_db}/visit", params={"conflicts": "true"}, timeout=10).json()
    assert local["_rev"] == remote["_rev"]
    assert len(local["_conflicts"]) == 1
    assert sorted(local["_conflicts"]) == sorted(remote["_conflicts"])

    # A second phone pulling from the server sees the same tree, and only what was asked for.
    other = pouch.open_local("other-phone")
    pulled = pouch.replicate(server, other, doc_ids=["visit", "doc-1"])
    assert pulled["docs_written"] == 3  # docs_written counts revisions: 2 leaves + doc-1
    assert [row["id"] for row in pouch.all_docs(other)["rows"]] == ["doc-1", "visit"]
    assert pouch.get(other, "visit", conflicts=True) == local


def test_replicate_reports_per_document_failures(pouch: PouchDB, couch_db: str) -> None:
    validator = "function (doc) { if (doc.bad) { throw({forbidden: 'no bad docs'}); } }"
    ddoc = requests.put(
        f"{couch_db}/_design/guard", json={"validate_doc_update": validator}, timeout=10
    )
    assert ddoc.status_code == 201, ddoc.text
    phone = pouch.open_local("phone")
    pouch.bulk_docs(phone, [{"_id": "good"}, {"_id": "bad", "bad": True}])

    result = pouch.replicate(phone, pouch.open_remote(couch_db))
    # A rejected document does not fail the replication: it is counted and listed.
    assert result["ok"] is True and result["status"] == "complete"
    assert (result["docs_written"], result["doc_write_failures"]) == (1, 1)
    [error] = result["errors"]
    assert (error["id"], error["name"], error["message"]) == ("bad", "forbidden", "no bad docs")
    assert error["status"] == 500  # PouchDB's http adapter loses the 403 of a per-doc error


def test_failed_replication_raises_with_partial_result(pouch: PouchDB) -> None:
    phone = pouch.open_local("phone")
    pouch.put(phone, {"_id": "a"})
    # Port 1 on loopback refuses connections: the replication aborts at once.
    nowhere = pouch.open_remote("http://127.0.0.1:1/nothing")
    with pytest.raises(PouchError) as failed:
        pouch.replicate(phone, nowhere)
    assert "ECONNREFUSED" in failed.value.message
    assert failed.value.details["result"]["status"] == "aborting"


def test_attachments_round_trip_through_the_server(pouch: PouchDB, couch_db: str) -> None:
    data = bytes(range(256)) * 4  # every byte value, so base64 or text mangling shows
    phone = pouch.open_local("phone")
    saved = pouch.put_attachment(phone, "photo", "a.bin", data, "application/octet-stream")
    assert pouch.get_attachment(phone, "photo", "a.bin") == data
    inline = pouch.get(phone, "photo", attachments=True)["_attachments"]["a.bin"]
    assert inline["content_type"] == "application/octet-stream"

    server = pouch.open_remote(couch_db)
    pouch.replicate(phone, server)
    raw = requests.get(f"{couch_db}/photo/a.bin", timeout=10)
    assert raw.status_code == 200 and raw.content == data
    assert requests.get(f"{couch_db}/photo", timeout=10).json()["_rev"] == saved["rev"]

    back = pouch.open_local("back")
    pouch.replicate(server, back)
    assert pouch.get_attachment(back, "photo", "a.bin") == data
    assert pouch.get_attachment(server, "photo", "a.bin", rev=saved["rev"]) == data

    # A second attachment on the existing revision, then the first is still there.
    second = pouch.put_attachment(back, "photo", "b.txt", b"hello", "text/plain", rev=saved["rev"])
    assert second["rev"].startswith("2-")
    stubs = pouch.get(back, "photo")["_attachments"]
    assert stubs["b.txt"]["stub"] is True and stubs["a.bin"]["length"] == len(data)


def test_remote_credentials_are_sent(pouch: PouchDB, couch_db: str) -> None:
    # pouchdb-server has no users: wrong credentials are refused, none at all are fine.
    intruder = pouch.open_remote(couch_db, username="nobody", password="wrong")
    with pytest.raises(PouchError) as refused:
        pouch.info(intruder)
    assert refused.value.status == 401
    assert pouch.info(pouch.open_remote(couch_db))["doc_count"] == 0


def test_node_process_is_gone_after_the_context_exits() -> None:
    with PouchDB() as driver:
        pid = driver.pid
        assert pid is not None and Path(f"/proc/{pid}").exists()
        assert driver.versions["pouchdb"] == "9.0.0"
    assert not Path(f"/proc/{pid}").exists()  # exited and reaped, not a zombie
    with pytest.raises(PouchDriverError, match="not running"):
        driver.call("version")


def test_a_dead_driver_is_reported_with_its_stderr() -> None:
    with PouchDB() as driver:
        assert driver.pid is not None
        os.kill(driver.pid, signal.SIGKILL)
        with pytest.raises(PouchDriverError, match="exited"):
            driver.call("version")
        with pytest.raises(PouchDriverError, match="exited"):
            driver.call("version")  # and stays reported, without hanging


def test_a_late_answer_is_dropped_after_a_timeout(pouch: PouchDB) -> None:
    db = pouch.open_local("slow")
    target = pouch.open_local("target")
    pouch.put(db, {"_id": "a"})
    # A filter that blocks Node for a second: the call times out, its answer comes later.
    busy = "function () { var end = Date.now() + 1000; while (Date.now() < end) {} return true; }"
    with pytest.raises(PouchTimeout):
        pouch.call("replicate", source=db, target=target, options={"filter_js": busy}, timeout=0.2)
    assert pouch.info(db)["doc_count"] == 1  # the stale replicate answer is skipped


def test_stray_errors_go_to_stderr_and_the_driver_survives(pouch: PouchDB) -> None:
    db = pouch.open_local("stray")
    target = pouch.open_local("target")
    pouch.put(db, {"_id": "a"})
    # Errors no op awaits: a rejected promise nobody handles, and a throw from a timer.
    stray = """function () {
        Promise.reject(new Error('stray rejection'));
        setTimeout(function () { throw new Error('stray throw'); }, 0);
        return true;
    }"""
    assert pouch.replicate(db, target, filter_js=stray)["docs_written"] == 1
    deadline = time.monotonic() + 5
    while "stray throw" not in pouch.stderr_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    tail = pouch.stderr_tail()
    assert "unhandled rejection: Error: stray rejection" in tail
    assert "uncaught exception: Error: stray throw" in tail
    assert pouch.info(target)["doc_count"] == 1


def test_missing_install_fails_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pouchdb_client, "PEERS_DIR", tmp_path)
    with pytest.raises(pytest.fail.Exception, match=r"run `\./dev test`"):
        PouchDB().start()
