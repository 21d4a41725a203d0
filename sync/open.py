"""Open a store from a location string: a URL is a CouchDB-protocol peer, anything
else a SQLite file (Kinto's `load_from_config`, reduced to what we need)."""

from __future__ import annotations

from pathlib import Path

from .couch_store import CouchStore
from .sqlite_store import SqliteStore
from .store import Store


def open_store(location: str, *, create: bool = True) -> Store:
    """``http(s)://[user:password@]host/db`` -> CouchStore; a path -> SqliteStore.

    `create` makes a missing database (a remote one with PUT, a local file with its
    folder); without it a missing local file is an error rather than a new, empty one.
    """
    if location.startswith(("http://", "https://")):
        return CouchStore(location, create=create)
    path = Path(location)
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"no database at {location}")
        path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(path)
