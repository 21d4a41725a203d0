"""The gateway's own bookkeeping, in one SQLite file beside the county store.

Kept out of the replicated documents (as CHT keeps its transition state), so
it can never conflict with tablets' copies: users and login failures, each
user's `_local` checkpoints, the quarantine of rejected revisions, the write
log (who wrote what from which device), the scope index that makes a scoped
pull cost what is in scope, not what changed in the whole county, the roster
the write policy reads (from `user:` documents) and the references accepted
before the documents they name had arrived.
"""

from __future__ import annotations

from pathlib import Path

from sync.sqlite_database import SqliteDatabase

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
]


def open_gateway_database(data_dir: str | Path) -> SqliteDatabase:
    path = Path(data_dir) / "gateway.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(str(path), GATEWAY_MIGRATIONS)
