"""What the ledger store holds, indexed in this process's SQLite file for listing.

The quarantine and the pushes refused whole are documents of the ledger store
(server/services.py), written by whichever gateway process judged the push. Staff
listings and the hourly refusal count need ordered, filtered reads the `Store`
interface does not give, so each process follows the ledger's changes feed into two
tables (`quarantine`, `refused_pushes`) and catches up before it reads them: a refusal
quarantined by one process is listed by every other. The tables are an index, rebuilt
from the ledger if lost.
"""

from __future__ import annotations

import hashlib
import json
import threading

from sync.sqlite_database import SqliteDatabase
from sync.store import Store

QUARANTINE, REFUSED_PUSH = "quarantine", "refused_push"


def quarantine_id(doc_id: str, rev: str) -> str:
    """One ledger document per refused (id, revision): a replayed push adds nothing."""
    digest = hashlib.sha256(f"{doc_id}\0{rev}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"{QUARANTINE}:{digest[:40]}"


def checkpoint_id(area: str, username: str, local_id: str) -> str:
    """The ledger's `_local` id of a user's checkpoint `local_id` in `area` ("db": the
    user's /db/; usernames hold no ':')."""
    return f"checkpoint:{area}:{username}:{local_id}"


def quarantine_document(
    doc_id: str, rev: str, body: str, reasons: list[str], pushed_by: str,
    pusher_scope: str | None, device: str | None, received_at: float,
) -> dict:  # fmt: skip
    """The ledger's record of one refused revision (`body`: the document as JSON text)."""
    return {"_id": quarantine_id(doc_id, rev), "type": QUARANTINE, "doc_id": doc_id,
            "rev": rev, "body": body, "reasons": reasons, "pushed_by": pushed_by,
            "pusher_scope": pusher_scope, "device": device, "received_at": received_at}  # fmt: skip


def refused_push_document(
    key: str, pushed_by: str, pusher_scope: str | None, device: str | None, at: float,
    documents: int, refused: int, status: int, reasons: list,
) -> dict:  # fmt: skip
    """The ledger's summary of one push refused whole; `key` makes its id unique."""
    return {"_id": f"{REFUSED_PUSH}:{key}", "type": REFUSED_PUSH, "pushed_by": pushed_by,
            "pusher_scope": pusher_scope, "device": device, "at": at, "documents": documents,
            "refused": refused, "status": status, "reasons": reasons}  # fmt: skip


class LedgerIndex:
    def __init__(self, db: SqliteDatabase, ledger: Store) -> None:
        self.db, self.ledger = db, ledger
        self._lock = threading.Lock()

    def catch_up(self) -> int:
        """Index the ledger's changes since the last call; returns how many rows it read."""
        with self._lock:
            with self.db.read() as conn:
                (since,) = conn.execute(
                    "SELECT value FROM meta WHERE key = 'indexed_ledger_seq'"
                ).fetchone()
            feed = self.ledger.changes(since=json.loads(since), include_docs=True)
            rows = list(feed)
            if not rows and json.dumps(feed.last_seq) == since:
                return 0  # nothing new: no write transaction (staff lists, every refused push)
            with self.db.write() as conn:
                for row in rows:
                    doc = row.get("doc") or {}
                    if not row.get("deleted"):
                        _index(conn, doc)
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'indexed_ledger_seq'",
                    (json.dumps(feed.last_seq),),
                )
            return len(rows)


def _index(conn, doc: dict) -> None:  # noqa: ANN001 - sqlite3
    if doc.get("type") == QUARANTINE:
        conn.execute(
            "INSERT OR IGNORE INTO quarantine (ledger_id, doc_id, rev, body, reasons, username,"
            " pusher_scope, device, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc["_id"], doc["doc_id"], doc["rev"], doc["body"],
             json.dumps(doc["reasons"], ensure_ascii=False), doc["pushed_by"],
             doc.get("pusher_scope"), doc.get("device"), doc["received_at"]),
        )  # fmt: skip
    elif doc.get("type") == REFUSED_PUSH:
        conn.execute(
            "INSERT OR IGNORE INTO refused_pushes (ledger_id, username, pusher_scope, device, at,"
            " documents, refused, status, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc["_id"], doc["pushed_by"], doc.get("pusher_scope"), doc.get("device"),
             doc["at"], doc["documents"], doc["refused"], doc["status"],
             json.dumps(doc["reasons"], ensure_ascii=False)),
        )  # fmt: skip
