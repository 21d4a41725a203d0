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
    is_place_code,
    msg,
    place_within,
    server_owned_fields,
)
from schemas.rejection_notice import notice_id
from sync import revtree
from sync.errors import BadRequest, NotFound, StoreError
from sync.sqlite_database import SqliteDatabase
from sync.store import Store

from .scope import IndexEntry
from .users import User
from .validation import Verdict, verdict

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
# The refusal of a write to a document outside the caller's scope: it names no place.
HIDDEN_DOCUMENT = "该记录不在你的负责范围内。 / The document is outside your scope."
HISTORY_REWRITTEN = (
    "修订历史与服务器上的不一致，不能改写。 / "
    "The revision history contradicts the server's and may not be rewritten."
)


@dataclass(frozen=True)
class Pushed:
    doc: dict
    user: User
    device: str | None
    verdict: Verdict | None = None  # the schemas' verdict, when judged ahead for a batch


def reasons_to_refuse(
    pushed: Pushed, existing: IndexEntry | None, current: dict | None
) -> list[str]:
    """Every reason (bilingual) to refuse this revision; empty means accept it."""
    doc, user = pushed.doc, pushed.user
    doc_id = str(doc.get("_id"))
    doc_type = doc.get("type") if not doc.get("_deleted") else None
    if not isinstance(doc_type, str):  # a list or object is no type (and is unhashable)
        doc_type = None
    doc_type = doc_type or (existing.doc_type if existing else doc_id.partition(":")[0])
    if doc_type in SERVER_ONLY_TYPES or doc_type not in WRITABLE[user.role]:
        return [msg("push_type_forbidden", role=user.role, type=doc_type)]
    if existing is not None and existing.place and not place_within(existing.place, user.scope):
        # Judged as if it did not exist, so the refusal names only what the caller sent,
        # never where the document is; a push that would then pass is still refused.
        return reasons_to_refuse(pushed, None, None) or [HIDDEN_DOCUMENT]
    if doc.get("_deleted") and not _has_body(doc):
        return []  # a bare tombstone (PouchDB's remove) of a document in scope
    judged = pushed.verdict or verdict(doc)
    if judged.problems:
        return list(judged.problems)
    place = judged.place
    if doc.get("_deleted") is True and not (isinstance(place, str) and is_place_code(place)):
        # A tombstone is validated by its id only: without a place of its own it stays where
        # the document was (the index keeps that place), as a bare tombstone does.
        return []
    if not place_within(place, user.scope):
        return [msg("push_out_of_scope", place=place)]
    if user.role in FIELD_ROLES:
        for name in sorted(server_owned_fields(doc_type)):
            if doc.get(name) != (current or {}).get(name):
                return [msg("push_server_owned", field=name)]
    return []


def _has_body(doc: dict) -> bool:
    return any(not key.startswith("_") for key in doc)


class Ledger:
    """What one push request decided: refusals for the quarantine and an outcome per
    revision for the write log, committed in one transaction (one fsync per request,
    not per document) before the request is answered."""

    def __init__(self, new_edits: bool) -> None:
        self.new_edits = new_edits
        self.refused: list[tuple[Pushed, list[str]]] = []
        self.outcomes: list[tuple[Pushed, str]] = []

    def revision(self, doc: dict) -> str:
        """The revision a pushed document is (replicated) or would have become (an edit,
        whose `_rev` is only its parent): two different refused edits of one parent are
        two quarantine rows, and the same edit pushed twice is one."""
        if not self.new_edits:
            return str(doc.get("_rev", ""))
        parent = doc.get("_rev") if isinstance(doc.get("_rev"), str) else None
        try:
            return revtree.new_rev(parent, bool(doc.get("_deleted")), doc, [])
        except (BadRequest, TypeError, ValueError):  # a malformed parent or body
            return str(doc.get("_rev", ""))

    def refuse(self, pushed: Pushed, reasons: list[str]) -> None:
        self.refused.append((pushed, reasons))
        self.outcomes.append((pushed, "quarantined"))

    def note(self, pushed: Pushed, outcome: str) -> None:
        self.outcomes.append((pushed, outcome))

    def commit(self, db: SqliteDatabase) -> None:
        now = time.time()
        with db.write() as conn:
            # Once per (id, rev): a replayed push adds nothing to the quarantine.
            conn.executemany(
                "INSERT OR IGNORE INTO quarantine (doc_id, rev, body, reasons, username, device,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(p.doc.get("_id")),
                        self.revision(p.doc),
                        json.dumps(p.doc, ensure_ascii=False),
                        json.dumps(reasons, ensure_ascii=False),
                        p.user.username,
                        p.device,
                        now,
                    )
                    for p, reasons in self.refused
                ],
            )
            conn.executemany(
                "INSERT INTO write_log (doc_id, rev, username, device, outcome, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(p.doc.get("_id")),
                        self.revision(p.doc),
                        p.user.username,
                        p.device,
                        outcome,
                        now,
                    )
                    for p, outcome in self.outcomes
                ],
            )


def write_notice(store: Store, pushed: Pushed, reasons: list[str]) -> None:
    """Tell the author, in their place, why the revision was refused."""
    doc, user = pushed.doc, pushed.user
    place = doc.get("place")
    # A refused document's place may be anything: only a real code inside the scope is used.
    if (
        not isinstance(place, str)
        or not is_place_code(place)
        or not place_within(place, user.scope)
    ):
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
    _replace(store, notice, user.scope)


def clear_notice(store: Store, pushed: Pushed) -> None:
    """An accepted revision settles the document's notice, if it had one in the author's
    scope (a notice elsewhere answers somebody else's push)."""
    try:
        current = store.get(notice_id(str(pushed.doc.get("_id"))))
    except NotFound:
        return
    if not _placed_within(current, pushed.user.scope):
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


def _placed_within(doc: dict, scope: str) -> bool:
    place = doc.get("place")
    return isinstance(place, str) and is_place_code(place) and place_within(place, scope)


def _same_refusal(current: dict, notice: dict) -> bool:
    keys = ("place", "about", "rev", "reasons", "pushed_by")
    return all(current.get(key) == notice[key] for key in keys)


def _replace(store: Store, doc: dict, scope: str) -> None:
    for _ in range(3):  # another refusal may race us: re-read and retry
        try:
            current = store.get(doc["_id"])
        except NotFound:
            doc.pop("_rev", None)
        else:
            if not _placed_within(current, scope):
                return  # another scope's notice about the same id: never moved or overwritten
            if _same_refusal(current, doc):
                return  # a replayed push: the notice already says this, leave it as it is
            doc = {**doc, "_rev": current["_rev"]}
        try:
            store.put(doc)
            return
        except StoreError as exc:
            if exc.status != 409:
                raise
