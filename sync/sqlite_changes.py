"""How `SqliteStore` reads its changes feed: a page at a time, each page in a read
transaction of its own, so a long feed never holds the database and writes made
meanwhile still come (as CouchDB's feed does).

Three ways to find a page's rows, all in seq order:
- every change: the `seq` index from the last position;
- a few ids (up to `VALUES_PER_QUERY`): the same, with the ids in the statement;
- many ids: their seqs are looked up once, a few hundred ids a statement (one
  statement for them all would pass SQLite's limit on variables, 32,766 in a stock
  build, and re-reading every id for each page costs ids x pages), then read page by
  page; the changes made after that lookup come last, from the `seq` index.
"""

from __future__ import annotations

import sqlite3

from .sqlite_database import VALUES_PER_QUERY, rows_in

PAGE_ROWS = 500  # rows read per query while streaming a feed or a listing
COLUMNS = "doc_id, seq, winner, deleted, tree"
Row = tuple[str, int, str, int, str]  # (doc_id, seq, winner, deleted, tree JSON)


class Pages:
    """The rows of a feed, page by page. `position`: every change a resumed feed would
    give is after it (so the feed's `last_seq` may move there once a page is handed out)."""

    def __init__(self, since: int) -> None:
        self.position = since

    def next_page(self, conn: sqlite3.Connection) -> tuple[list[Row], bool]:
        """The next rows (possibly none) and whether the feed has ended."""
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM docs WHERE seq > ? ORDER BY seq LIMIT ?",
            (self.position, PAGE_ROWS),
        ).fetchall()
        if rows:
            self.position = rows[-1][1]
        return rows, len(rows) < PAGE_ROWS


class FewIdsPages(Pages):
    """Only `ids` (at most VALUES_PER_QUERY): the ids go in the statement."""

    def __init__(self, since: int, ids: list[str]) -> None:
        super().__init__(since)
        self.ids = ids

    def next_page(self, conn: sqlite3.Connection) -> tuple[list[Row], bool]:
        if not self.ids:
            return [], True
        marks = ",".join("?" * len(self.ids))
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM docs WHERE seq > ? AND doc_id IN ({marks}) "
            "ORDER BY seq LIMIT ?",
            (self.position, *self.ids, PAGE_ROWS),
        ).fetchall()
        if rows:
            self.position = rows[-1][1]
        return rows, len(rows) < PAGE_ROWS


class ManyIdsPages(Pages):
    """Only `ids`, however many: each id's seq is looked up once (the first page's
    snapshot), the documents are read in that order a page at a time, and the changes
    made after the snapshot are read last, from the seq index (a document changed
    meanwhile is left out of the snapshot's pages and comes there, at its new seq)."""

    def __init__(self, since: int, ids: list[str]) -> None:
        super().__init__(since)
        self.ids = set(ids)
        self._queue: list[tuple[int, str]] | None = None  # (seq, doc_id) at the snapshot
        self._next = 0
        self._horizon = since  # the newest seq at the snapshot

    def next_page(self, conn: sqlite3.Connection) -> tuple[list[Row], bool]:
        if self._queue is None:
            (newest,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM docs").fetchone()
            self._horizon = max(self.position, newest)
            found = rows_in(conn, "SELECT seq, doc_id FROM docs WHERE doc_id IN", list(self.ids))
            self._queue = sorted(row for row in found if row[0] > self.position)
        while self._next < len(self._queue):
            chunk = self._queue[self._next : self._next + VALUES_PER_QUERY]
            self._next += len(chunk)
            self.position = chunk[-1][0]
            at_snapshot = {doc_id: seq for seq, doc_id in chunk}
            query = f"SELECT {COLUMNS} FROM docs WHERE doc_id IN"
            rows = [
                row
                for row in rows_in(conn, query, list(at_snapshot))
                if row[1] == at_snapshot[row[0]]
            ]
            if rows:
                rows.sort(key=lambda row: row[1])
                return rows, False
        self.position = max(self.position, self._horizon)
        scanned, ended = super().next_page(conn)  # the changes since the snapshot
        return [row for row in scanned if row[0] in self.ids], ended


def pages_for(since: int, ids: list[str] | None) -> Pages:
    if ids is None:
        return Pages(since)
    if len(ids) <= VALUES_PER_QUERY:
        return FewIdsPages(since, ids)
    return ManyIdsPages(since, ids)
