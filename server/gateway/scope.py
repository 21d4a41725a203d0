"""The scope index: which document sits in which place, in the gateway's own sequence.

A scoped pull must cost what changed inside the scope, not what changed in the
whole county. Filtering the store's changes feed per user (CouchDB JavaScript
filters, `_selector` feeds) reads every change in the county for every pull.
Instead one follower reads the store's changes feed once, for everybody, and
records each document's place at every level (county, township, village, grid)
with a gateway sequence number; a user's `_changes` is then an indexed range
query on (their level's column, gseq). Cost: one index row per document, one
pass over each change in total, and per pull a read of the in-scope rows only.
The follower resumes from its own checkpoint, so writes that reach the store
by any path (the gateway, CouchDB's own replication, a conflict merge) are seen.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from schemas import PLACE_LEVELS, is_place_code, place_level, place_path
from sync.documents import dump_json
from sync.sqlite_database import SqliteDatabase, rows_in
from sync.store import Store

from ..policy import PERSONAL_TYPES

INDEX_BATCH = 500
FOLLOW_SECONDS = 0.5  # how often the follower reads the store while feeds wait

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexEntry:
    doc_id: str
    gseq: int
    place: str  # the finest place code known for the document
    doc_type: str
    personal: bool
    deleted: bool
    leaves: list[str]  # leaf revisions, winner first


@dataclass(frozen=True)
class Member:
    """One live `user:` document as the write policy reads it."""

    user_id: str  # "user:<username>"
    role: str
    scope: str
    team: str | None
    station: str | None
    active: bool


@dataclass(frozen=True)
class IdRange:
    """An `_all_docs`-style range of document ids. `start` and `end` are in the order
    rows are read (with `descending`, `start` is the greater id)."""

    start: str | None = None
    end: str | None = None
    inclusive_end: bool = True
    descending: bool = False


class ScopeIndex:
    def __init__(self, db: SqliteDatabase, store: Store) -> None:
        self.db, self.store = db, store
        self._follow_lock = threading.Lock()
        self._written: dict[tuple[str, str], Mapping] = {}  # see remember()
        self._being_written: dict[tuple[str, str], Mapping] = {}  # see writing()
        self._written_lock = threading.Lock()
        self._fresh_as_of = float("-inf")  # when the last completed run began reading
        # Waiting feeds sleep on this; a catch-up that indexed anything wakes them all.
        self._indexed = threading.Condition()
        self._latest: int | None = None  # the index's gateway seq, once read
        self._waiters = 0
        self._follower: threading.Thread | None = None
        self._closing = threading.Event()
        self._roster_filled = False

    def remember(self, written: Mapping[tuple[str, str], Mapping]) -> None:
        """Bodies of revisions just written to the store, by (id, rev): the next
        catch-up indexes a change whose only leaf is one of them from its body instead
        of reading it back (pushes index what they wrote, their own and each other's)."""
        with self._written_lock:
            self._written.update(written)

    @contextmanager
    def writing(self, bodies: Mapping[tuple[str, str], Mapping]) -> Iterator[None]:
        """Around a store write of revisions whose ids are known beforehand (replicated
        ones): a catch-up that finds one of them in the feed before the write returns
        takes its body from here instead of reading it back. `remember` what landed
        before leaving."""
        with self._written_lock:
            self._being_written.update(bodies)
        try:
            yield
        finally:
            with self._written_lock:
                for key, body in bodies.items():
                    # Unless another push registered the same revision since: its own.
                    if self._being_written.get(key) is body:
                        del self._being_written[key]

    def catch_up(self, *, needed_as_of: float | None = None) -> int:
        """Index every change the store made since the last call; returns how many.

        A change `remember`ed is indexed from its body; any other change is read with
        its winning revision's body. One follower at a time; concurrent callers wait.
        `needed_as_of` (a `time.monotonic()` reading): the caller needs every change
        made before then; a run that began reading after then, and completed, already
        indexed them, so the store is not asked again.
        """
        with self._follow_lock:
            if needed_as_of is not None and self._fresh_as_of >= needed_as_of:
                return 0
            started = time.monotonic()
            # Whatever was remembered before the feed is read is in it (or was indexed
            # already): what this run does not use is stale, and dropped with it.
            with self._written_lock:
                written, self._written = {**self._being_written, **self._written}, {}
            since = json.loads(self._meta("indexed_store_seq"))
            feed = self.store.changes(since=since, style="all_docs", include_docs=not written)
            indexed, checkpoint = 0, since
            for batch in _batches(feed, INDEX_BATCH):
                if written:
                    batch = self._with_docs(batch, written, since)
                checkpoint = batch[-1]["seq"]
                with self.db.write() as conn:
                    gseq = self._index_batch(conn, batch)
                    _set_checkpoint(conn, checkpoint)
                self._published(gseq)
                indexed += len(batch)
            if feed.last_seq != checkpoint:  # past the last row (CouchDB may say so)
                with self.db.write() as conn:
                    _set_checkpoint(conn, feed.last_seq)
            self._fresh_as_of = started
            return indexed

    def latest_gseq(self) -> int:
        """The index's newest gateway sequence number (0 when empty)."""
        with self._indexed:
            return self._latest_locked()

    def wait_beyond(self, gseq: int, timeout: float) -> int:
        """Wait at most `timeout` seconds for the index to pass gateway sequence `gseq`;
        returns the index's newest one. Waiters never ask the store themselves: while any
        wait, one follower thread catches the index up every FOLLOW_SECONDS (so writes by
        other paths are seen), and every catch-up that indexed something wakes them all."""
        deadline = time.monotonic() + timeout
        with self._indexed:
            self._waiters += 1
            if self._follower is None and not self._closing.is_set():
                self._follower = threading.Thread(
                    target=self._follow, name="scope-index-follower", daemon=True
                )
                self._follower.start()
            try:
                while (latest := self._latest_locked()) <= gseq and not self._closing.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._indexed.wait(remaining)
                return latest
            finally:
                self._waiters -= 1

    def _latest_locked(self) -> int:
        if self._latest is None:
            self._latest = int(self._meta("gateway_seq"))
        return self._latest

    def _follow(self) -> None:
        """Catch up every FOLLOW_SECONDS while anybody waits; then end (the next waiter
        starts another)."""
        while not self._closing.wait(FOLLOW_SECONDS):
            with self._indexed:
                if self._waiters == 0:
                    self._follower = None
                    return
            try:
                self.catch_up()
            except Exception as exc:  # noqa: BLE001 - the store is away: try again later
                log.warning("scope index follower: catch-up failed (%s)", type(exc).__name__)
        with self._indexed:
            self._follower = None

    def _published(self, gseq: int) -> None:
        """A catch-up committed index rows up to `gseq`: wake the waiting feeds."""
        with self._indexed:
            self._latest = gseq
            self._indexed.notify_all()

    def close(self) -> None:
        self._closing.set()
        with self._indexed:
            self._indexed.notify_all()

    def _with_docs(
        self, rows: list[dict], written: Mapping[tuple[str, str], Mapping], since: object
    ) -> list[dict]:
        """`rows` with their winning revision's body: from `written` when the row has one
        leaf (so it is the winner), else read from the store in one request."""
        unknown = []
        for row in rows:
            leaves = row["changes"]
            body = written.get((row["id"], leaves[0]["rev"])) if len(leaves) == 1 else None
            if body is None:
                unknown.append(row["id"])
            else:
                row["doc"] = body
        if not unknown:
            return rows
        # A document's row in the feed is at its latest change, so this reads the same
        # rows again, with the winners' bodies (newer ones if the document changed since,
        # which a later catch-up indexes again anyway).
        fresh = {
            row["id"]: row
            for row in self.store.changes(
                since=since, style="all_docs", include_docs=True, doc_ids=unknown
            )
        }
        # Each row keeps its own seq: the checkpoint must not pass changes this batch
        # has not seen (a newer seq of a fresh row would skip those in between).
        return [
            {**fresh[row["id"]], "seq": row["seq"]}
            if "doc" not in row and row["id"] in fresh
            else row
            for row in rows
        ]

    def _index_batch(self, conn, rows: list[dict]) -> int:  # noqa: ANN001 - sqlite3
        """One index row per change, with consecutive gateway sequence numbers; a few
        statements per batch, not per change (the follower runs after every push).
        Returns the newest gateway sequence number."""
        (last,) = conn.execute(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'gateway_seq'"
        ).fetchone()
        entries = [self._index_entry(conn, row, last + n) for n, row in enumerate(rows, start=1)]
        _index_roster(conn, rows)
        # A reference accepted before its document arrived is settled once it is here.
        conn.execute(
            "DELETE FROM unresolved_references WHERE ref_id IN (SELECT value FROM json_each(?))",
            (dump_json([row["id"] for row in rows if not row.get("deleted")]),),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO scope_index (doc_id, gseq, county, township, village, grid,"
            " doc_type, personal, deleted, leaves) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            entries,
        )
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'gateway_seq'", (str(last + len(rows)),)
        )
        return last + len(rows)

    @staticmethod
    def _index_entry(conn, row: dict, gseq: int) -> tuple:  # noqa: ANN001 - sqlite3
        doc = row.get("doc") or {}
        doc_id = row["id"]
        place = doc.get("place") if isinstance(doc.get("place"), str) else None
        doc_type = doc.get("type") if isinstance(doc.get("type"), str) else None
        if place is None or not is_place_code(place) or doc_type is None:
            # A tombstone stripped of its body (PouchDB's remove) stays where it was.
            previous = conn.execute(
                "SELECT county, township, village, grid, doc_type FROM scope_index "
                "WHERE doc_id = ?",
                (doc_id,),
            ).fetchone()
            if place is None or not is_place_code(place):
                place = next((c for c in reversed(previous[:4]) if c), "") if previous else ""
            if doc_type is None:
                doc_type = previous[4] if previous else doc_id.partition(":")[0]
        columns = place_path(place) if place else dict.fromkeys(PLACE_LEVELS)
        return (
            doc_id,
            gseq,
            columns["county"] or "",
            columns["township"],
            columns["village"],
            columns["grid"],
            doc_type,
            int(doc_type in PERSONAL_TYPES),
            int(bool(row.get("deleted"))),
            dump_json([c["rev"] for c in row["changes"]]),
        )

    def _meta(self, key: str) -> str:
        with self.db.read() as conn:
            return conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def members(self, user_ids: list[str]) -> dict[str, Member]:
        """The roster entries of those of `user_ids` that are live `user:` documents."""
        self._fill_roster()
        query = f"SELECT {_MEMBER_COLUMNS} FROM roster WHERE user_id IN"
        with self.db.read() as conn:
            return {row[0]: _member(row) for row in rows_in(conn, query, user_ids)}

    def _fill_roster(self) -> None:
        """Once per gateway database: the roster of the user documents indexed before the
        roster existed, read from the store."""
        if self._roster_filled:
            return
        with self._follow_lock:
            if self._meta("roster_filled") != "1":
                rows = [
                    {"id": row["id"], "doc": row["doc"]}
                    for row in self.store.all_docs(
                        start_key="user:", end_key="user:\ufff0", include_docs=True
                    )
                ]
                with self.db.write() as conn:
                    _index_roster(conn, rows)
                    conn.execute("UPDATE meta SET value = '1' WHERE key = 'roster_filled'")
            self._roster_filled = True

    def lookup(self, doc_id: str) -> IndexEntry | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM scope_index WHERE doc_id = ?", (doc_id,)
            ).fetchone()
        return _entry(row) if row else None

    def lookup_many(self, doc_ids: list[str]) -> dict[str, IndexEntry]:
        """`lookup` for many documents in a query per few hundred (a push judges a whole
        batch; one query per id would hand the GIL back and forth under load)."""
        query = f"SELECT {_COLUMNS} FROM scope_index WHERE doc_id IN"
        with self.db.read() as conn:
            return {row[0]: _entry(row) for row in rows_in(conn, query, doc_ids)}

    def live_ids(self, doc_ids: list[str]) -> set[str]:
        """Which of `doc_ids` exist and are not deleted."""
        query = "SELECT doc_id FROM scope_index WHERE deleted = 0 AND doc_id IN"
        with self.db.read() as conn:
            return {doc_id for (doc_id,) in rows_in(conn, query, doc_ids)}

    def changes(
        self,
        scope: str,
        since: int,
        limit: int,
        *,
        personal: bool,
        doc_ids: list[str] | None = None,
        descending: bool = False,
        before: int | None = None,
    ) -> list[IndexEntry]:
        """In-scope index rows after `since` (and before `before`, when paging newest
        first), oldest first unless `descending` (an indexed range scan)."""
        where, params = _changes_after(scope, since, personal, doc_ids)
        if before is not None:
            where += " AND gseq < ?"
            params.append(before)
        order = "DESC" if descending else "ASC"
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM scope_index WHERE {where} ORDER BY gseq {order} LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_entry(row) for row in rows]

    def count_documents(self, scope: str, *, personal: bool) -> tuple[int, int]:
        """(live, deleted) documents in the scope."""
        where, params = _scoped(scope, personal)
        with self.db.read() as conn:
            live, deleted = conn.execute(
                f"SELECT COUNT(*) - COALESCE(SUM(deleted), 0), COALESCE(SUM(deleted), 0) "
                f"FROM scope_index WHERE {where}",
                params,
            ).fetchone()
        return int(live), int(deleted)

    def count_changes_after(
        self, scope: str, since: int, *, personal: bool, doc_ids: list[str] | None
    ) -> int:
        """How many in-scope changes come after gateway sequence `since` (`pending`)."""
        where, params = _changes_after(scope, since, personal, doc_ids)
        with self.db.read() as conn:
            query = f"SELECT COUNT(*) FROM scope_index WHERE {where}"
            return int(conn.execute(query, params).fetchone()[0])

    def listing(
        self,
        scope: str,
        ids: IdRange,
        *,
        personal: bool,
        limit: int,
        skip: int = 0,
        after: str | None = None,
        doc_types: frozenset[str] | None = None,
    ) -> list[IndexEntry]:
        """Live in-scope documents by id within `ids`, in its direction; `after` resumes
        past an id already read (paging), `doc_types` narrows to those types."""
        where, params = _scoped(scope, personal)
        query = f"SELECT {_COLUMNS} FROM scope_index WHERE {where} AND deleted = 0"
        first, last = (">=", "<=") if not ids.descending else ("<=", ">=")
        if ids.start is not None:
            query += f" AND doc_id {first} ?"
            params.append(ids.start)
        if ids.end is not None:
            query += f" AND doc_id {last if ids.inclusive_end else last[0]} ?"
            params.append(ids.end)
        if after is not None:
            query += f" AND doc_id {first[0]} ?"
            params.append(after)
        if doc_types is not None:
            query += " AND doc_type IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(doc_types)))
        order = "DESC" if ids.descending else "ASC"
        with self.db.read() as conn:
            rows = conn.execute(
                query + f" ORDER BY doc_id {order} LIMIT ? OFFSET ?", (*params, limit, skip)
            ).fetchall()
        return [_entry(row) for row in rows]

    def places_changed(self, after: int, through: int) -> set[tuple[str, str, bool]]:
        """(level, place code, personal) of every level of every place that changes after
        gateway sequence `after` and up to `through` are in: the scopes they concern."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT county, township, village, grid, personal FROM scope_index "
                "WHERE gseq > ? AND gseq <= ?",
                (after, through),
            ).fetchall()
        return {
            (level, code, bool(personal))
            for *codes, personal in rows
            for level, code in zip(PLACE_LEVELS, codes, strict=True)
            if code
        }

    def last_seq(self, scope: str, *, personal: bool) -> int:
        where, params = _scoped(scope, personal)
        with self.db.read() as conn:
            query = f"SELECT MAX(gseq) FROM scope_index WHERE {where}"
            return conn.execute(query, params).fetchone()[0] or 0


_COLUMNS = "doc_id, gseq, county, township, village, grid, doc_type, personal, deleted, leaves"
_MEMBER_COLUMNS = "user_id, role, scope, team, station, active"


def _scoped(scope: str, personal: bool) -> tuple[str, list]:
    """The WHERE clause of a scope: its level's column, personal rows only if allowed."""
    level = place_level(scope)
    return f"{level} = ?" + ("" if personal else " AND personal = 0"), [scope]


def _changes_after(
    scope: str, since: int, personal: bool, doc_ids: list[str] | None
) -> tuple[str, list]:
    where, params = _scoped(scope, personal)
    where += " AND gseq > ?"
    params.append(since)
    if doc_ids is not None:  # one parameter: a long list overran SQLite's variable limit
        where += " AND doc_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(doc_ids))
    return where, params


def _index_roster(conn, rows: list[dict]) -> None:  # noqa: ANN001 - sqlite3
    """Keep the roster rows of the `user:` documents among `rows` (id and winning body)."""
    gone, live = [], []
    for row in rows:
        if not row["id"].startswith("user:"):
            continue
        doc = row.get("doc") or {}
        role, scope = doc.get("role"), doc.get("scope")
        if row.get("deleted") or doc.get("type") != "user" or not isinstance(scope, str):
            gone.append((row["id"],))
            continue
        live.append(
            (
                row["id"],
                str(role),
                scope,
                _text(doc.get("team")),
                _text(doc.get("station")),
                int(doc.get("active") is not False),
            )
        )
    conn.executemany("DELETE FROM roster WHERE user_id = ?", gone)
    conn.executemany(
        f"INSERT OR REPLACE INTO roster ({_MEMBER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", live
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _member(row: tuple) -> Member:
    user_id, role, scope, team, station, active = row
    return Member(user_id, role, scope, team, station, bool(active))


def _entry(row: tuple) -> IndexEntry:
    doc_id, gseq, county, township, village, grid, doc_type, personal, deleted, leaves = row
    place = grid or village or township or county or ""
    return IndexEntry(
        doc_id, gseq, place, doc_type, bool(personal), bool(deleted), json.loads(leaves)
    )


def _set_checkpoint(conn, seq: object) -> None:  # noqa: ANN001 - sqlite3
    conn.execute("UPDATE meta SET value = ? WHERE key = 'indexed_store_seq'", (json.dumps(seq),))


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
