"""One gateway process's own bookkeeping, in one SQLite file in its data directory.

Kept out of the replicated documents (as CHT keeps its transition state), so
it can never conflict with tablets' copies: the scope index that makes a scoped
pull cost what is in scope, not what changed in the whole county, the roster the
write policy reads (from `user:` documents), the index of the ledger's quarantine
and refused pushes (gateway/ledger_index.py), the write log (who wrote what from
which device), each user's live rejection notices and the references accepted
before the documents they name had arrived. Accounts, the quarantine itself,
checkpoints and login failures are documents of the shared stores
(server/services.py), so several processes answer alike.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from sync.errors import Conflict
from sync.sqlite_database import SqliteDatabase
from sync.store import Store

from .accounts.users import account_document
from .gateway.ledger_index import checkpoint_id, quarantine_document, refused_push_document

GATEWAY_MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta VALUES ('uuid', lower(hex(randomblob(16))));
    INSERT INTO meta VALUES
        ('instance_start_time',
         CAST(CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) AS TEXT));
    INSERT INTO meta VALUES ('gateway_seq', '0');
    INSERT INTO meta VALUES ('indexed_store_seq', '0');

    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL
            CHECK (role IN ('volunteer', 'station_lead', 'county_staff', 'admin')),
        scope TEXT NOT NULL,
        display_name TEXT,
        team TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL
    );
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_start REAL NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE local_docs (
        username TEXT NOT NULL,
        local_id TEXT NOT NULL,
        rev INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (username, local_id)
    );

    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        doc_id TEXT NOT NULL,
        rev TEXT NOT NULL,
        body TEXT NOT NULL,
        reasons TEXT NOT NULL,
        username TEXT NOT NULL,
        device TEXT,
        received_at REAL NOT NULL,
        UNIQUE (doc_id, rev)
    );

    CREATE TABLE write_log (
        id INTEGER PRIMARY KEY,
        doc_id TEXT NOT NULL,
        rev TEXT NOT NULL,
        username TEXT NOT NULL,
        device TEXT,
        outcome TEXT NOT NULL,
        at REAL NOT NULL
    );

    CREATE TABLE scope_index (
        doc_id TEXT PRIMARY KEY,
        gseq INTEGER NOT NULL UNIQUE,
        county TEXT NOT NULL,
        township TEXT,
        village TEXT,
        grid TEXT,
        doc_type TEXT NOT NULL,
        personal INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        leaves TEXT NOT NULL
    );
    CREATE INDEX scope_by_county ON scope_index (county, gseq);
    CREATE INDEX scope_by_township ON scope_index (township, gseq);
    CREATE INDEX scope_by_village ON scope_index (village, gseq);
    CREATE INDEX scope_by_grid ON scope_index (grid, gseq)
    """,
    # The roster as the write policy reads it: one row per live `user:` document, kept
    # by the scope index from the same feed; filled from the store on first use
    # ('roster_filled'), as an index built before this table existed holds none.
    """
    CREATE TABLE roster (
        user_id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        scope TEXT NOT NULL,
        team TEXT,
        station TEXT,
        active INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO meta VALUES ('roster_filled', '0');

    CREATE TABLE unresolved_references (
        id INTEGER PRIMARY KEY,
        doc_id TEXT NOT NULL,
        rev TEXT NOT NULL,
        field TEXT NOT NULL,
        ref_id TEXT NOT NULL,
        username TEXT NOT NULL,
        at REAL NOT NULL,
        UNIQUE (doc_id, field, ref_id)
    );
    CREATE INDEX unresolved_by_ref ON unresolved_references (ref_id)
    """,
    # Bounds on refusals (server/gateway/push.py): a device's refusals counted by the hour,
    # pushes refused whole kept as one summary each, each user's live rejection notices
    # (and the refusals counted past their cap), the write log's accepted revisions
    # found by document.
    """
    CREATE INDEX quarantine_by_pusher ON quarantine (username, received_at);
    CREATE TABLE refused_pushes (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL,
        device TEXT,
        at REAL NOT NULL,
        documents INTEGER NOT NULL,
        refused INTEGER NOT NULL,
        status INTEGER NOT NULL,
        reasons TEXT NOT NULL
    );
    CREATE TABLE notices (
        notice_id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX notices_by_user ON notices (username);
    CREATE TABLE notice_overflow (
        username TEXT PRIMARY KEY,
        refusals INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX write_log_by_doc ON write_log (doc_id, rev)
    """,
    # Accounts, the quarantine, refused pushes, checkpoints and login failures moved into
    # the accounts and ledger stores (server/services.py), which every gateway process
    # shares. The old tables are kept, renamed, for `carry_over`; the quarantine and
    # refused pushes return as this process's index of the ledger (ledger_index.py).
    """
    ALTER TABLE users RENAME TO legacy_users;
    ALTER TABLE quarantine RENAME TO legacy_quarantine;
    ALTER TABLE refused_pushes RENAME TO legacy_refused_pushes;
    ALTER TABLE local_docs RENAME TO legacy_local_docs;
    DROP TABLE login_failures;
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        ledger_id TEXT NOT NULL UNIQUE,
        doc_id TEXT NOT NULL,
        rev TEXT NOT NULL,
        body TEXT NOT NULL,
        reasons TEXT NOT NULL,
        username TEXT NOT NULL,
        pusher_scope TEXT,
        device TEXT,
        received_at REAL NOT NULL
    );
    CREATE INDEX quarantine_index_by_pusher ON quarantine (username, received_at);
    CREATE TABLE refused_pushes (
        id INTEGER PRIMARY KEY,
        ledger_id TEXT NOT NULL UNIQUE,
        username TEXT NOT NULL,
        pusher_scope TEXT,
        device TEXT,
        at REAL NOT NULL,
        documents INTEGER NOT NULL,
        refused INTEGER NOT NULL,
        status INTEGER NOT NULL,
        reasons TEXT NOT NULL
    );
    INSERT INTO meta VALUES ('indexed_ledger_seq', '0');
    INSERT INTO meta VALUES ('carried_over', '0')
    """,
    # When each tablet last synced (gateway/devices.py), for a station's page.
    """
    CREATE TABLE device_seen (
        device TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        at REAL NOT NULL
    ) WITHOUT ROWID
    """,
]


def carry_over(db: SqliteDatabase, accounts: Store, ledger: Store) -> None:
    """Move what a gateway file of an earlier version held into the shared stores, once:
    accounts, quarantined revisions, refused pushes and checkpoints (nothing is deleted;
    the legacy tables stay). Documents already there are left as they are."""
    with db.read() as conn:
        if conn.execute("SELECT value FROM meta WHERE key = 'carried_over'").fetchone()[0] == "1":
            return
        users = conn.execute(
            "SELECT username, password_hash, role, scope, display_name, team, active, created_at"
            " FROM legacy_users"
        ).fetchall()
        quarantined = conn.execute(
            "SELECT q.doc_id, q.rev, q.body, q.reasons, q.username, u.scope, q.device,"
            " q.received_at FROM legacy_quarantine q LEFT JOIN legacy_users u USING (username)"
        ).fetchall()
        floods = conn.execute(
            "SELECT r.id, r.username, u.scope, r.device, r.at, r.documents, r.refused, r.status,"
            " r.reasons FROM legacy_refused_pushes r LEFT JOIN legacy_users u USING (username)"
        ).fetchall()
        checkpoints = conn.execute(
            "SELECT username, local_id, body FROM legacy_local_docs"
        ).fetchall()
    accounts.bulk_docs(
        [
            account_document(
                name, hashed, role, scope, shown, team, active=bool(active), created_at=created
            )
            for name, hashed, role, scope, shown, team, active, created in users
        ]  # fmt: skip
    )
    ledger.bulk_docs(
        [
            quarantine_document(doc_id, rev, body, json.loads(reasons), name, scope, device, at)
            for doc_id, rev, body, reasons, name, scope, device, at in quarantined
        ]
        + [
            refused_push_document(
                f"legacy-{row_id}",
                name,
                scope,
                device,
                at,
                documents,
                refused,
                status,
                json.loads(reasons),
            )
            for row_id, name, scope, device, at, documents, refused, status, reasons in floods
        ]  # fmt: skip
    )  # conflicts (already carried over by another process) are left as they are
    for name, local_id, body in checkpoints:
        with contextlib.suppress(Conflict):
            ledger.put_local({**json.loads(body), "_id": checkpoint_id("db", name, local_id)})
    with db.write() as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'carried_over'")


GATEWAY_FILE = "gateway.sqlite"


def open_gateway_database(data_dir: str | Path) -> SqliteDatabase:
    path = Path(data_dir) / GATEWAY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(str(path), GATEWAY_MIGRATIONS)
