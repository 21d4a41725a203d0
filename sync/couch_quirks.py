"""What some CouchDB-protocol peers answer differently, put back into CouchDB's form.

PouchDB Server 4.2 answers a missing document in `_bulk_get` with ``{}`` and a
missing revision with ``{"missing": rev}``, and ignores ``atts_since``. These
functions turn such answers into what CouchDB gives, so every `Store` answers
alike (see docs/replication.md, "Peer quirks").
"""

from __future__ import annotations

from . import revtree


def missing(doc_id: str, rev: str, reason: str) -> dict:
    return {"error": {"id": doc_id, "rev": rev, "error": "not_found", "reason": reason}}


def normal_bulk_get_result(result: dict, request: dict) -> dict:
    """PouchDB Server answers a missing document with ``{}`` and a missing revision with
    ``{"missing": rev}``; make both CouchDB's error form."""
    docs = [
        item
        if item.get("ok") or item.get("error")
        else missing(request["id"], item.get("missing", request.get("rev", "undefined")), "missing")
        for item in result.get("docs", [])
    ]
    return {
        "id": result.get("id", request["id"]),
        "docs": docs or [missing(request["id"], request.get("rev", "undefined"), "missing")],
    }


def stub_attachments_held_since(doc: dict, atts_since: list[str]) -> None:
    """Turn inlined attachments the asker already holds back into stubs (PouchDB
    Server ignores ``atts_since``), so every store answers alike."""
    history = (
        revtree.path_from_revisions(doc["_revisions"]) if "_revisions" in doc else [doc["_rev"]]
    )
    since_pos = revtree.held_since_pos(history, atts_since)
    for meta in doc.get("_attachments", {}).values():
        if "data" in meta and meta.get("revpos", since_pos + 1) <= since_pos:
            del meta["data"]
            meta["stub"] = True
