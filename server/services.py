"""What every request handler needs: the county store and the gateway's bookkeeping.

Opened once per app from its configuration (`COUCHDB_URL` selects CouchDB,
otherwise the embedded SqliteStore in `DATA_DIR`) and reached through
`services()`, never through module globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from sync.open import open_store
from sync.sqlite_database import SqliteDatabase
from sync.store import Store

from .database import open_gateway_database
from .gateway.scope import ScopeIndex


@dataclass
class Services:
    store: Store  # the county's documents (CouchDB or the embedded store)
    db: SqliteDatabase  # the gateway's own tables (server/database.py)
    # One per app: its follower lock must be shared by every request, or concurrent
    # requests index the same changes over and over.
    scope: ScopeIndex = field(init=False)

    def __post_init__(self) -> None:
        self.scope = ScopeIndex(self.db, self.store)

    def close(self) -> None:
        self.scope.close()
        self.store.close()
        self.db.close()


def init_app(app: Flask) -> None:
    data_dir = Path(app.config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    url = app.config.get("COUCHDB_URL")
    store = (
        open_store(url, compress=bool(app.config.get("COUCHDB_GZIP")))
        if url
        else open_store(data_dir / "county.sqlite")
    )
    app.extensions["fieldsync"] = Services(store, open_gateway_database(data_dir))


def services() -> Services:
    return current_app.extensions["fieldsync"]
