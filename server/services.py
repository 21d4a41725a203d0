"""What every request handler needs: the county's stores and the gateway's bookkeeping.

Opened once per app from its configuration and reached through `services()`, never
through module globals. Three stores, all through the one `Store` interface, so several
gateway processes over one CouchDB share everything that decides an answer:

- `store`: the county's documents, which tablets replicate (CouchDB at `COUCHDB_URL`,
  otherwise the embedded `county.sqlite`);
- `accounts`: login accounts with their password hashes (`account:<name>` documents;
  `<COUCHDB_URL>_accounts` or `accounts.sqlite`), which no `/db/` endpoint ever serves;
- `ledger`: what the gateway decided and keeps for users: the quarantine, pushes
  refused whole, replication checkpoints and login failures (`<COUCHDB_URL>_ledger` or
  `ledger.sqlite`), never served to field roles either.

`db` is this process's own SQLite file: indexes rebuilt from the stores (the scope
index, the roster, the ledger index) and the write log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from sync.open import open_store
from sync.sqlite_database import SqliteDatabase
from sync.store import Store

from .accounts.users import UserStore
from .database import GATEWAY_FILE, carry_over, open_gateway_database
from .gateway.devices import DeviceLog
from .gateway.ledger_index import LedgerIndex
from .gateway.scope import ScopeIndex

STORE_FILE, ACCOUNTS_FILE, LEDGER_FILE = "county.sqlite", "accounts.sqlite", "ledger.sqlite"
SERVER_FILES = (STORE_FILE, ACCOUNTS_FILE, LEDGER_FILE, GATEWAY_FILE)  # in DATA_DIR


def with_sqlite_companions(names: Iterable[str]) -> tuple[str, ...]:
    """Each SQLite file name with the -wal and -shm files SQLite keeps beside it."""
    return tuple(name + suffix for name in names for suffix in ("", "-wal", "-shm"))


@dataclass
class Services:
    store: Store  # the county's documents (CouchDB or the embedded store)
    accounts: Store  # login accounts (server/accounts/users.py)
    ledger: Store  # quarantine, refused pushes, checkpoints, login failures
    db: SqliteDatabase  # this process's indexes and write log (server/database.py)
    # One per app: its follower lock must be shared by every request, or concurrent
    # requests index the same changes over and over.
    scope: ScopeIndex = field(init=False)
    users: UserStore = field(init=False)
    ledger_index: LedgerIndex = field(init=False)
    devices: DeviceLog = field(init=False)

    def __post_init__(self) -> None:
        self.devices = DeviceLog(self.db)
        self.scope = ScopeIndex(self.db, self.store)
        self.users = UserStore(self.accounts)
        self.ledger_index = LedgerIndex(self.db, self.ledger)

    def close(self) -> None:
        self.scope.close()
        for store in (self.store, self.accounts, self.ledger):
            store.close()
        self.db.close()


def companion_url(url: str, suffix: str) -> str:
    """The CouchDB database beside `url`'s: http://h/county -> http://h/county_accounts."""
    base, _, query = url.partition("?")
    return base.rstrip("/") + suffix + (f"?{query}" if query else "")


def open_services(config: dict) -> Services:
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    url = config.get("COUCHDB_URL")
    if url:
        compress = bool(config.get("COUCHDB_GZIP"))
        store = open_store(url, compress=compress)
        accounts = open_store(config.get("COUCHDB_ACCOUNTS_URL") or companion_url(url, "_accounts"))
        ledger = open_store(config.get("COUCHDB_LEDGER_URL") or companion_url(url, "_ledger"))
    else:
        store = open_store(data_dir / STORE_FILE)
        accounts = open_store(data_dir / ACCOUNTS_FILE)
        ledger = open_store(data_dir / LEDGER_FILE)
    found = Services(store, accounts, ledger, open_gateway_database(data_dir))
    carry_over(found.db, accounts, ledger)
    return found


def init_app(app: Flask) -> None:
    app.extensions["fieldsync"] = open_services(app.config)


def services() -> Services:
    return current_app.extensions["fieldsync"]
