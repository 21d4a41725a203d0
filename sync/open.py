"""The one store factory: a URL is a CouchDB-protocol peer, anything else a SQLite file
(Kinto's `load_from_config`, reduced to what we need). The command line, the county
server and the tests open stores through it."""

from __future__ import annotations

import os
from pathlib import Path

from .couch_store import CouchStore
from .documents import DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_MAX_DOC_BYTES
from .http_client import RetryPolicy
from .revtree import DEFAULT_REVS_LIMIT
from .sqlite_store import SqliteStore
from .store import Store


def is_url(location: str | os.PathLike) -> bool:
    return isinstance(location, str) and location.startswith(("http://", "https://"))


def open_store(
    location: str | os.PathLike,
    *,
    create: bool = True,
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    compress: bool | None = None,
    retry: RetryPolicy | None = None,
    timeout: tuple[float, float] | None = None,
    username: str | None = None,
    password: str | None = None,
    cookie_auth: bool | None = None,
    revs_limit: int | None = None,
) -> Store:
    """``http(s)://[user:password@]host/db`` -> CouchStore; a path -> SqliteStore.

    `create` makes a missing database (a remote one with PUT, a local file with its
    folder); without it a missing local file is an error rather than a new, empty one.
    The size limits apply to both; `compress`, `retry`, `timeout`, the credentials and
    `cookie_auth` only to a URL, `revs_limit` only to a file (a remote database's is
    its own): given for the other kind, they are an error, not silently ignored.
    """
    # Given explicitly (None: the store's default), so each can be checked against the kind.
    remote = {
        name: value
        for name, value in (
            ("compress", compress),
            ("retry", retry),
            ("timeout", timeout),
            ("username", username),
            ("password", password),
            ("cookie_auth", cookie_auth),
        )
        if value is not None
    }
    limits = {"max_doc_bytes": max_doc_bytes, "max_attachment_bytes": max_attachment_bytes}
    if is_url(location):
        if revs_limit is not None:
            raise ValueError("revs_limit applies to a SQLite file; a CouchDB database has its own")
        return CouchStore(str(location), create=create, **limits, **remote)
    if remote:
        raise ValueError(f"{', '.join(sorted(remote))}: only for a CouchDB URL, not a SQLite file")
    path = Path(location)
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"no database at {location}")
        path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(
        path, revs_limit=DEFAULT_REVS_LIMIT if revs_limit is None else revs_limit, **limits
    )
