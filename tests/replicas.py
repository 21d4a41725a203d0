"""Helpers for replication tests: open stores of each kind, compare what they hold."""

from __future__ import annotations

import base64
import uuid
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
    held = {}
    for row in store.changes(style="all_docs"):
        doc_id = row["id"]
        leaves = sorted(
            (
                item["ok"]["_rev"],
                bool(item["ok"].get("_deleted")),
                tuple(item["ok"]["_revisions"]["ids"]),
            )
            for item in store.open_revs(doc_id, "all")
            if "ok" in item
        )
        live = [rev for rev, deleted, _ in leaves if not deleted]
        winner = max(
            live or [rev for rev, _, _ in leaves],
            key=lambda r: (int(r.split("-")[0]), r.split("-")[1]),
        )
        winner_doc = store.get(doc_id, rev=winner)
        atts = tuple(
            sorted(
                (name, meta["digest"]) for name, meta in winner_doc.get("_attachments", {}).items()
            )
        )
        held[doc_id] = (
            winner,
            sorted(set(live) - {winner}),
            sorted({r for r, d, _ in leaves if d} - {winner}),
            leaves,
            atts,
        )
    return held


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
