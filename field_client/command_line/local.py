"""The local device: its SQLite store, who uses it and how far it has synced.

Two `_local` documents (never replicated) hold the device's own facts:

- `_local/fieldsync-identity`: the volunteer's username and this device's id, written at
  the first sync (the username comes from the sync URL). One local database belongs to
  one person: the states of "my records" are derived from it.
- `_local/fieldsync-sync`: `push_seq`, the local sequence the last completed push
  reached, and the last sync's time and summary (field_client/README.md).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.errors import Conflict, NotFound
from sync.open import open_store
from sync.store import Seq, Store

from .messages import FieldClientError

DEFAULT_DB = "fieldsync-field.sqlite"
DB_ENV = "FIELDSYNC_FIELD_DB"
IDENTITY_ID = "_local/fieldsync-identity"
SYNC_ID = "_local/fieldsync-sync"
# The envelope's `device` is 1-64 of [A-Za-z0-9_.:-]: "cli-" + host + "-" + 8 hex digits.
_NOT_DEVICE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_HOST_CHARS = 64 - len("cli-") - len("-") - 8


def open_local(path: str | os.PathLike, *, create: bool = False) -> Store:
    """The device's store; a missing file is made only when `create` (the first sync)."""
    if not create and not Path(path).exists():
        raise FieldClientError("no_local_db", path=path)
    return open_store(Path(path), create=create)


def now() -> str:
    """Now, as the envelope wants it: local time with its UTC offset, to the second."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def new_device_id() -> str:
    """`cli-<hostname>-<random>`: readable in the server's logs, unique per database."""
    host = _NOT_DEVICE_CHARS.sub("-", socket.gethostname()).strip("-")[:_HOST_CHARS] or "host"
    return f"cli-{host}-{os.urandom(4).hex()}"


@dataclass(frozen=True)
class Identity:
    username: str
    device: str

    @property
    def user_id(self) -> str:
        return f"user:{self.username}"


def read_local(store: Store, local_id: str) -> dict[str, Any] | None:
    try:
        return store.get_local(local_id)
    except NotFound:
        return None


def write_local(store: Store, local_id: str, body: Mapping[str, Any]) -> None:
    """Replace a `_local` document whatever its revision (this device is its one writer;
    a lost answer's retry conflicts with itself, so re-read and write again)."""
    for _ in range(3):
        current = read_local(store, local_id)
        doc = {**body, "_id": local_id}
        if current is not None:
            doc["_rev"] = current["_rev"]
        try:
            store.put_local(doc)
            return
        except Conflict:
            continue
    raise Conflict(f"{local_id} keeps changing")


def identity(store: Store) -> Identity | None:
    """Who this device belongs to, once it has synced."""
    doc = read_local(store, IDENTITY_ID)
    if doc is None:
        return None
    return Identity(doc["username"], doc["device"])


def require_identity(store: Store) -> Identity:
    found = identity(store)
    if found is None:
        raise FieldClientError("not_synced")
    return found


def check_owner(store: Store, username: str) -> Identity | None:
    """The device's identity, if it has one and it is `username`'s; another's is refused."""
    found = identity(store)
    if found is not None and found.username != username:
        raise FieldClientError("other_user", owner=found.username, username=username)
    return found


def remember_identity(store: Store, username: str) -> Identity:
    """The device's identity, made at its first sync; a second person is refused."""
    found = check_owner(store, username)
    if found is not None:
        return found
    made = Identity(username, new_device_id())
    write_local(
        store,
        IDENTITY_ID,
        {"username": made.username, "device": made.device, "created_at": now()},
    )
    return made


def profile(store: Store, who: Identity) -> dict[str, Any]:
    """The identity's `user:` document, which the first sync pulled in (station, team,
    scope)."""
    try:
        return store.get(who.user_id)
    except NotFound:
        raise FieldClientError("no_profile", username=who.username) from None


def sync_state(store: Store) -> dict[str, Any]:
    """`_local/fieldsync-sync` as stored, or an empty state before any push."""
    doc = read_local(store, SYNC_ID) or {}
    return {key: value for key, value in doc.items() if key not in ("_id", "_rev")}


def push_seq(store: Store) -> Seq:
    """The local sequence the last completed push reached (0 before any)."""
    return sync_state(store).get("push_seq", 0)


def record_push(store: Store, seq: Seq) -> None:
    """A push completed up to the local sequence `seq`."""
    write_local(store, SYNC_ID, {**sync_state(store), "push_seq": seq})


def record_sync(store: Store, summary: Mapping[str, Any]) -> None:
    """A whole sync completed: its time and summary."""
    write_local(store, SYNC_ID, {**sync_state(store), "last_sync": now(), "summary": dict(summary)})
