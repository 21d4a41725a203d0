"""One SQLite file opened for durable, concurrent use.

WAL with ``synchronous=FULL``: a transaction that committed survives a crash
or a battery cut. Each thread gets its own connection (sqlite3 connections
must not be shared); processes share the file through SQLite's own locking.
Writers take the lock up front (``BEGIN IMMEDIATE``) so two writers never
deadlock upgrading a read lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .per_thread import PerThread

# Each step runs once, in a transaction, and is recorded in schema_migrations.
STORE_MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE docs (
        doc_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        winner TEXT NOT NULL,
        deleted INTEGER NOT NULL,
        tree TEXT NOT NULL
    ) WITHOUT ROWID;
    -- revs and attachments keep a rowid: bodies of 1-2 KB would overflow WITHOUT ROWID pages
    -- (about 1 KB inline at 4 KB pages) and triple the file size.
    CREATE TABLE revs (
        doc_id TEXT NOT NULL,
        rev TEXT NOT NULL,
        body TEXT NOT NULL,
        atts TEXT,
        PRIMARY KEY (doc_id, rev)
    );
    CREATE TABLE attachments (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE att_refs (
        doc_id TEXT NOT NULL, rev TEXT NOT NULL, digest TEXT NOT NULL,
        PRIMARY KEY (doc_id, rev, digest)
    ) WITHOUT ROWID;
    CREATE INDEX att_refs_digest ON att_refs (digest);
    CREATE TABLE local_docs (local_id TEXT PRIMARY KEY, rev INTEGER NOT NULL,
                             body TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta VALUES ('update_seq', '0');
    INSERT INTO meta VALUES ('uuid', lower(hex(randomblob(16))));
    INSERT INTO meta VALUES
        ('instance_start_time',
         CAST(CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) AS TEXT));
    """,
]


WRITE_LOCK_TIMEOUT = 30.0  # seconds, as SQLite's busy_timeout below
VALUES_PER_QUERY = 500  # well under SQLite's limit on one statement's parameters


def rows_in(conn: sqlite3.Connection, query: str, values: Sequence[object]) -> Iterator[tuple]:
    """The rows of `query`, which ends in ``IN``, over `values` a few hundred at a time
    (one statement per value would cost a round through SQLite each)."""
    for start in range(0, len(values), VALUES_PER_QUERY):
        chunk = values[start : start + VALUES_PER_QUERY]
        yield from conn.execute(f"{query} ({','.join('?' * len(chunk))})", chunk)


class SqliteDatabase:
    """Per-thread connections, transactions and schema migrations for one file.

    `migrations` are SQL scripts run once each, in order, in one transaction each,
    and recorded in ``schema_migrations``; append to the list, never edit an entry.
    """

    def __init__(self, path: str, migrations: Sequence[str] = STORE_MIGRATIONS) -> None:
        self.path = path
        self.migrations = list(migrations)
        self._connections = PerThread(self._connect, sqlite3.Connection.close)
        self._write_lock = threading.Lock()
        self._migrate()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, in autocommit mode (transactions are explicit)."""
        return self._connections.get()

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False only so close() may run on any thread; each
        # connection is still used by the one thread that opened it.
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=30.0, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed (durably) on exit, rolled back on any error."""
        conn = self.connection()
        # Threads sharing this object queue here rather than in SQLite's busy handler,
        # which polls with sleeps of up to 100 ms: under concurrent requests that idled
        # the writer most of the time. Other processes still meet SQLite's own lock.
        # (Never nest write() on one thread: it would wait here for itself.)
        if not self._write_lock.acquire(timeout=WRITE_LOCK_TIMEOUT):
            raise sqlite3.OperationalError(
                f"database is locked: no write turn within {WRITE_LOCK_TIMEOUT:.0f} s"
            )
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            self._write_lock.release()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot across several queries."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self.write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, script in enumerate(self.migrations, start=1):
                if version in done:
                    continue
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))

    def close(self) -> None:
        """Close every thread's connection; the database must not be used afterwards."""
        self._connections.close_all()
