"""What the server keeps of a push: the quarantine, the write log and rejection notices.

Whether a revision is accepted is decided by `server.policy`; this module keeps what
was decided. Replicators skip a refused document for good (their checkpoint moves past it),
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

from schemas.rejection_notice import notice_id
from sync import revtree
from sync.errors import BadRequest, NotFound, StoreError
from sync.sqlite_database import SqliteDatabase
from sync.store import Store

from ..accounts.users import User
from ..policy import in_scope
from .validation import Verdict

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
    # References to documents the server has not seen yet, as (field, id).
    unresolved: tuple[tuple[str, str], ...] = ()


class Ledger:
    """What one push request decided: refusals for the quarantine and an outcome per
    revision for the write log, committed in one transaction (one fsync per request,
    not per document) before the request is answered."""

    def __init__(self, new_edits: bool) -> None:
        self.new_edits = new_edits
        self.refused: list[tuple[Pushed, list[str]]] = []
        self.outcomes: list[tuple[Pushed, str, str]] = []  # (pushed, outcome, revision)

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
        self.outcomes.append((pushed, "quarantined", self.revision(pushed.doc)))

    def note(self, pushed: Pushed, outcome: str, rev: str | None = None) -> None:
        """`rev`: the revision the store wrote, when it did (CouchDB makes its own ids)."""
        self.outcomes.append((pushed, outcome, rev or self.revision(pushed.doc)))

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
                    (str(p.doc.get("_id")), rev, p.user.username, p.device, outcome, now)
                    for p, outcome, rev in self.outcomes
                ],
            )
            # Accepted with references to documents not seen yet: listed for staff until
            # those documents arrive (the scope index settles them as it reads them).
            conn.executemany(
                "INSERT OR REPLACE INTO unresolved_references (doc_id, rev, field, ref_id,"
                " username, at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (str(p.doc["_id"]), rev, name, ref_id, p.user.username, now)
                    for p, outcome, rev in self.outcomes
                    if outcome == "accepted"
                    for name, ref_id in p.unresolved
                ],
            )


def write_notice(store: Store, pushed: Pushed, reasons: list[str]) -> None:
    """Tell the author, in their place, why the revision was refused."""
    doc, user = pushed.doc, pushed.user
    place = doc.get("place")
    # A refused document's place may be anything: only a real code inside the scope is used.
    if not in_scope(place, user.scope):
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
    if not in_scope(current.get("place"), pushed.user.scope):
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
            if not in_scope(current.get("place"), scope):
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
