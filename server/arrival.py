"""What happens to a pushed revision: authorize, upgrade, validate, then keep or quarantine.

Replicators skip a refused document for good (their checkpoint moves past it),
so the server must keep it: a refused revision goes to the quarantine with the
reasons, the user, the device and the time, and a rejection notice in the
author's place replicates back to the tablet. A later accepted revision of the
same document deletes the notice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import (
    SERVER_ONLY_TYPES,
    DocumentInvalid,
    error_messages,
    msg,
    place_within,
    server_owned_fields,
    validate_document,
)
from schemas.rejection_notice import notice_id
from sync.errors import NotFound, StoreError
from sync.sqlite_database import SqliteDatabase
from sync.store import Store

from .scope import IndexEntry
from .users import User

FIELD_TYPES = frozenset({"patrol", "water_source", "home_visit", "household"})
REFERENCE_WRITE_TYPES = frozenset({"place", "team", "station", "user"})
# Which roles may write which types (reads are decided in gateway.may_read).
WRITABLE: dict[str, frozenset[str]] = {
    "volunteer": FIELD_TYPES,
    "station_lead": FIELD_TYPES,
    "county_staff": FIELD_TYPES,
    "admin": REFERENCE_WRITE_TYPES,
}
FIELD_ROLES = frozenset({"volunteer", "station_lead"})  # may not touch server-owned fields


@dataclass(frozen=True)
class Pushed:
    doc: dict
    user: User
    device: str | None


def reasons_to_refuse(
    pushed: Pushed, existing: IndexEntry | None, current: dict | None
) -> list[str]:
    """Every reason (bilingual) to refuse this revision; empty means accept it."""
    doc, user = pushed.doc, pushed.user
    doc_id = str(doc.get("_id"))
    doc_type = doc.get("type") if not doc.get("_deleted") else None
    doc_type = doc_type or (existing.doc_type if existing else doc_id.partition(":")[0])
    if doc_type in SERVER_ONLY_TYPES or doc_type not in WRITABLE[user.role]:
        return [msg("push_type_forbidden", role=user.role, type=doc_type)]
    if existing is not None and existing.place and not place_within(existing.place, user.scope):
        return [msg("push_out_of_scope", place=existing.place)]
    if doc.get("_deleted") and not _has_body(doc):
        return []  # a bare tombstone (PouchDB's remove) of a document in scope
    try:
        clean = validate_document(doc)
    except DocumentInvalid as exc:
        return [f"{path}: {message}" for path, message in error_messages(exc.errors)]
    if not place_within(clean["place"], user.scope):
        return [msg("push_out_of_scope", place=clean["place"])]
    if user.role in FIELD_ROLES:
        for name in sorted(server_owned_fields(doc_type)):
            if doc.get(name) != (current or {}).get(name):
                return [msg("push_server_owned", field=name)]
    return []


def _has_body(doc: dict) -> bool:
    return any(not key.startswith("_") for key in doc)


def quarantine(db: SqliteDatabase, pushed: Pushed, reasons: list[str]) -> None:
    """Keep a refused revision, once per (id, rev): a replayed push adds nothing."""
    doc = pushed.doc
    with db.write() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO quarantine (doc_id, rev, body, reasons, username, device,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                str(doc.get("_id")),
                str(doc.get("_rev", "")),
                json.dumps(doc, ensure_ascii=False),
                json.dumps(reasons, ensure_ascii=False),
                pushed.user.username,
                pushed.device,
                time.time(),
            ),
        )


def log_write(db: SqliteDatabase, pushed: Pushed, outcome: str) -> None:
    with db.write() as conn:
        conn.execute(
            "INSERT INTO write_log (doc_id, rev, username, device, outcome, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                str(pushed.doc.get("_id")),
                str(pushed.doc.get("_rev", "")),
                pushed.user.username,
                pushed.device,
                outcome,
                time.time(),
            ),
        )


def write_notice(store: Store, pushed: Pushed, reasons: list[str]) -> None:
    """Tell the author, in their place, why the revision was refused."""
    doc, user = pushed.doc, pushed.user
    place = doc.get("place")
    if not isinstance(place, str) or not place_within(place, user.scope):
        place = user.scope
    now = datetime.now(UTC).isoformat(timespec="seconds")
    notice = {
        "_id": notice_id(str(doc.get("_id"))),
        "type": "rejection_notice",
        "schema_version": 1,
        "place": place,
        "author": f"user:{user.username}",
        "device": "county-server",
        "created_at": now,
        "updated_at": now,
        "about": str(doc.get("_id"))[:600],
        "rev": str(doc.get("_rev", ""))[:100],
        "reasons": [reason[:2000] for reason in reasons[:50]],
        "rejected_at": now,
        "pushed_by": user.username,
    }
    _replace(store, notice)


def clear_notice(store: Store, doc_id: str) -> None:
    """An accepted revision settles the document's notice, if it had one."""
    try:
        current = store.get(notice_id(doc_id))
    except NotFound:
        return
    store.put(
        {
            "_id": current["_id"],
            "_rev": current["_rev"],
            "_deleted": True,
            "place": current["place"],
            "type": "rejection_notice",
        }
    )


def _replace(store: Store, doc: dict) -> None:
    for _ in range(3):  # another refusal may race us: re-read and retry
        try:
            doc = {**doc, "_rev": store.get(doc["_id"])["_rev"]}
        except NotFound:
            doc.pop("_rev", None)
        try:
            store.put(doc)
            return
        except StoreError as exc:
            if exc.status != 409:
                raise
