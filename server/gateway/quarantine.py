"""What the server keeps of a push: the quarantine, the write log and rejection notices.

Whether a revision is accepted is decided by `server.policy`; this module keeps what
was decided. Replicators skip a refused document for good (their checkpoint moves past it),
so the server must keep it: a refused revision goes to the quarantine with the
reasons, the user, the device and the time, and a rejection notice in the
author's place replicates back to the tablet. A later accepted revision of the
same document deletes the notice.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import msg
from schemas.rejection_notice import notice_id
from sync import revtree
from sync.errors import BadRequest, Conflict, NotFound, StoreError
from sync.sqlite_database import SqliteDatabase
from sync.store import Store

from ..accounts.users import User
from ..logs import log_event
from ..policy import in_scope
from .ledger_index import LedgerIndex, quarantine_document, refused_push_document
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
    existed: bool = False  # whether the server held the document when it was judged


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

    def commit(self, ledger: Store, db: SqliteDatabase, index: LedgerIndex) -> None:
        now = time.time()
        if self.refused:
            _keep_refused(ledger, [
                quarantine_document(str(p.doc.get("_id")), self.revision(p.doc),
                                    json.dumps(p.doc, ensure_ascii=False), reasons,
                                    p.user.username, p.user.scope, p.device, now)
                for p, reasons in self.refused
            ])  # fmt: skip
            index.catch_up()
        with db.write() as conn:
            rows = [
                (str(p.doc.get("_id")), rev, p.user.username, p.device, outcome, now, p.existed)
                for p, outcome, rev in self.outcomes
            ]
            conn.executemany(
                "INSERT INTO write_log (doc_id, rev, username, device, outcome, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [row[:6] for row in rows if not (row[4] == "accepted" and row[6])],
            )
            # An accepted revision is logged once: a replayed push wrote nothing new (only a
            # document the server held already can be a replay, so only those are looked up).
            conn.executemany(
                "INSERT INTO write_log (doc_id, rev, username, device, outcome, at)"
                " SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM write_log"
                " WHERE doc_id = ?1 AND rev = ?2 AND outcome = 'accepted')",
                [row[:6] for row in rows if row[4] == "accepted" and row[6]],
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


def _keep_refused(ledger: Store, docs: list[dict]) -> None:
    """Write quarantine documents; one already there (a replayed push, or another process
    judging the same revision) is left as it is. A refused document too large for the
    ledger is kept with its body cut, so its refusal is never lost."""
    answers = ledger.bulk_docs(docs)
    for doc, answer in zip(docs, answers, strict=True):
        if "error" in answer and answer["error"] != "conflict":
            cut = {**doc, "body": json.dumps({"_id": doc["doc_id"], "cut": len(doc["body"])})}
            with contextlib.suppress(Conflict):
                ledger.put(cut)


class TooManyRefusals(StoreError):
    """A device past its refusals for the hour: the push is refused whole (429)."""

    status, error = 429, "too_many_requests"

    def __init__(self, reason: str, *, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


FLOOD_WINDOW = 3600  # seconds over which a device's refusals are counted
FLOOD_SAMPLE = 20  # document ids and distinct reasons kept in a flood's summary


def refused_recently(
    index: LedgerIndex, user: User, device: str | None, now: float
) -> tuple[int, int]:
    """(revisions of `user` on `device` quarantined in the last hour, by any gateway
    process, and seconds until the oldest of them leaves the window)."""
    index.catch_up()
    with index.db.read() as conn:
        count, oldest = conn.execute(
            "SELECT COUNT(*), MIN(received_at) FROM quarantine"
            " WHERE username = ? AND device IS ? AND received_at > ?",
            (user.username, device, now - FLOOD_WINDOW),
        ).fetchone()
    return count, max(1, int((oldest or now) + FLOOD_WINDOW - now))


def summarise_flood(
    ledger: Store,
    user: User,
    device: str | None,
    documents: int,
    refusals: list[list[str]],
    status: int,
) -> None:
    """Keep one summary of a push refused whole: who, how many, the commonest reasons."""
    reasons = Counter(reason for doc_reasons in refusals for reason in doc_reasons)
    ledger.put(
        refused_push_document(uuid.uuid4().hex, user.username, user.scope, device, time.time(),
                              documents, len(refusals), status,
                              reasons.most_common(FLOOD_SAMPLE))
    )  # fmt: skip
    log_event(
        "push_refused_whole",
        user=user.username,
        device=device,
        documents=documents,
        refused=len(refusals),
        status=status,
    )


class Notices:
    """Rejection notices: a refused revision's author is told, in their place, why; an
    accepted revision settles its document's notice. A user has at most
    MAX_NOTICES_PER_USER live notices (a tablet holds what it is told); past that one
    notice counts the refusals that got none of their own, until the user's notices are
    all settled. Which notice belongs to whom is kept in the gateway's `notices` table."""

    def __init__(self, store: Store, db: SqliteDatabase, config: Mapping) -> None:
        self.store, self.db = store, db
        self.cap = int(config["MAX_NOTICES_PER_USER"])

    def write(self, pushed: Pushed, reasons: list[str]) -> None:
        doc, user = pushed.doc, pushed.user
        nid = notice_id(str(doc.get("_id")))
        with self.db.read() as conn:
            mine = conn.execute(
                "SELECT notice_id FROM notices WHERE username = ? AND notice_id = ?",
                (user.username, nid),
            ).fetchone()
            (live,) = conn.execute(
                "SELECT COUNT(*) FROM notices WHERE username = ?", (user.username,)
            ).fetchone()
        if mine is None and live >= self.cap:
            self._count_beyond(user)
            return
        place = doc.get("place")
        # A refused document's place may be anything: only a real code in scope is used.
        notice = _notice(
            nid,
            place if in_scope(place, user.scope) else user.scope,
            user,
            about=str(doc.get("_id")),
            rev=str(doc.get("_rev", "")),
            reasons=reasons,
        )
        if _replace(self.store, notice, user.scope):
            with self.db.write() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO notices (notice_id, username, at) VALUES (?, ?, ?)",
                    (nid, user.username, time.time()),
                )

    def clear(self, pushed: Pushed) -> None:
        """Settle the document's notice, if it had one in the author's scope (a notice
        elsewhere answers somebody else's push)."""
        user = pushed.user
        nid = notice_id(str(pushed.doc.get("_id")))
        if _delete_notice(self.store, nid, user.scope):
            with self.db.write() as conn:
                conn.execute("DELETE FROM notices WHERE notice_id = ?", (nid,))
                (live,) = conn.execute(
                    "SELECT COUNT(*) FROM notices WHERE username = ?", (user.username,)
                ).fetchone()
                if live == 0:
                    conn.execute("DELETE FROM notice_overflow WHERE username = ?", (user.username,))
            if live == 0:
                _delete_notice(self.store, overflow_notice_id(user.username), user.scope)

    def _count_beyond(self, user: User) -> None:
        """One more refusal without a notice of its own: counted on the user's overflow
        notice (which is not itself one of the capped notices)."""
        with self.db.write() as conn:
            (count,) = conn.execute(
                "INSERT INTO notice_overflow (username, refusals) VALUES (?, 1)"
                " ON CONFLICT (username) DO UPDATE SET refusals = refusals + 1"
                " RETURNING refusals",
                (user.username,),
            ).fetchone()
        notice = _notice(
            overflow_notice_id(user.username),
            user.scope,
            user,
            about=f"user:{user.username}",
            rev="",
            reasons=[msg("notices_overflow", count=count, limit=self.cap)],
        )
        _replace(self.store, notice, user.scope)


def overflow_notice_id(username: str) -> str:
    return notice_id(f"overflow:user:{username}")


def _notice(nid: str, place: str, user: User, *, about: str, rev: str, reasons: list[str]) -> dict:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "_id": nid,
        "type": "rejection_notice",
        "schema_version": 1,
        "place": place,
        "author": f"user:{user.username}",
        "device": "county-server",
        "created_at": now,
        "updated_at": now,
        "about": about[:600],
        "rev": rev[:100],
        # Bounded: a notice replicates to tablets that hold little.
        "reasons": [reason[:NOTICE_REASON_CHARS] for reason in reasons[:NOTICE_REASONS]],
        "rejected_at": now,
        "pushed_by": user.username,
    }


NOTICE_REASONS, NOTICE_REASON_CHARS = 10, 500


def _delete_notice(store: Store, nid: str, scope: str) -> bool:
    """Delete the notice `nid` if it is live in `scope`; whether it was."""
    try:
        current = store.get(nid)
    except NotFound:
        return False
    if not in_scope(current.get("place"), scope):
        return False
    store.put(
        {
            "_id": current["_id"],
            "_rev": current["_rev"],
            "_deleted": True,
            "place": current["place"],
            "type": "rejection_notice",
        }
    )
    return True


def _same_refusal(current: dict, notice: dict) -> bool:
    keys = ("place", "about", "rev", "reasons", "pushed_by")
    return all(current.get(key) == notice[key] for key in keys)


def _replace(store: Store, doc: dict, scope: str) -> bool:
    """Write the notice `doc` over the current one; False if another scope holds its id."""
    for _ in range(3):  # another refusal may race us: re-read and retry
        try:
            current = store.get(doc["_id"])
        except NotFound:
            doc.pop("_rev", None)
        else:
            if not in_scope(current.get("place"), scope):
                return False  # another scope's notice about the same id: never touched
            if _same_refusal(current, doc):
                return True  # a replayed push: the notice already says this
            doc = {**doc, "_rev": current["_rev"]}
        try:
            store.put(doc)
            return True
        except StoreError as exc:
            if exc.status != 409:
                raise
    return False
