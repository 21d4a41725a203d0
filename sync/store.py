"""The `Store` interface: the CouchDB replication surface every node speaks.

A tablet (SqliteStore), a station hub (SqliteStore) and the county server
(CouchStore over HTTP, or SqliteStore embedded) all implement it, so one
replicator moves documents between any two of them. The behaviour is pinned
down by one conformance suite (tests/store_contract.py) that every
implementation runs unchanged.

Conventions shared by every method:
- Errors are `sync.errors.StoreError` subclasses with CouchDB's status and
  name: NotFound (404), Conflict (409), BadRequest (400), TooLarge (413).
- Documents are plain JSON dicts with CouchDB's special members (`_id`,
  `_rev`, `_deleted`, `_attachments`, `_revisions`, `_conflicts`).
- Sequences are opaque JSON values: compare them only with the store that
  produced them, and pass `last_seq` back as `since`.
- Every write is atomic per call and durable once the call returns.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .documents import check_doc_list

Seq = Any  # opaque: an int for SqliteStore, a string for CouchDB 3.x


@dataclass(frozen=True)
class Attachment:
    data: bytes
    content_type: str
    digest: str  # "md5-<base64>", CouchDB's form


class ChangesFeed(Iterator[dict]):
    """An iterator of change rows that knows the feed's `last_seq` once exhausted.

    Rows look like CouchDB's: ``{"seq", "id", "changes": [{"rev"}...],
    "deleted"?: True, "doc"?: {...}}``. Each document appears at most once, at
    its newest sequence. Rows are produced lazily: memory does not grow with
    the size of the feed.
    """

    def __init__(
        self, since: Seq, produce: Callable[[ChangesFeed], Iterator[dict]], limit: int | None = None
    ) -> None:
        """`produce(feed)` makes the (lazy) rows; it may call `set_last_seq` to report
        progress past rows it filtered out. `limit` caps the rows handed out."""
        self.last_seq: Seq = since
        rows = produce(self)
        self._rows = rows if limit is None else itertools.islice(rows, limit)

    def __iter__(self) -> ChangesFeed:
        return self

    def __next__(self) -> dict:
        row = next(self._rows)
        self.last_seq = row["seq"]
        return row

    def set_last_seq(self, seq: Seq) -> None:
        """Let a store report progress past filtered-out rows."""
        self.last_seq = seq


class Store(ABC):
    """A CouchDB-model document store. See the module docstring for conventions."""

    @abstractmethod
    def info(self) -> dict:
        """``{"db_name", "doc_count", "doc_del_count", "update_seq",
        "instance_start_time"}``. `instance_start_time` is stable for the life
        of the database (replicators refuse to checkpoint when it changes)."""

    @abstractmethod
    def get(
        self,
        doc_id: str,
        *,
        rev: str | None = None,
        revs: bool = False,
        conflicts: bool = False,
        deleted_conflicts: bool = False,
        attachments: bool = False,
        atts_since: list[str] | None = None,
    ) -> dict:
        """The winning revision, or `rev` if given.

        Missing document or unknown/compacted `rev`: NotFound("missing").
        Winner deleted and no `rev` asked: NotFound("deleted").
        `revs` adds `_revisions`; `attachments` inlines attachment data as
        base64 (only for attachments newer than `atts_since` revisions, when
        given); otherwise attachments are stubs with digest and length.
        """

    @abstractmethod
    def open_revs(
        self,
        doc_id: str,
        revs: list[str] | str,
        *,
        revs_history: bool = True,
        attachments: bool = False,
        atts_since: list[str] | None = None,
    ) -> list[dict]:
        """``GET ?open_revs=``: `revs` is a list or ``"all"`` (every leaf).

        Returns ``[{"ok": doc} | {"missing": rev}]``; a missing document gives
        ``[]`` for "all" and `missing` entries for a list. Never raises
        NotFound.
        """

    @abstractmethod
    def put(self, doc: Mapping, *, new_edits: bool = True) -> str:
        """Save one document and return its new revision.

        With new_edits, `_rev` must name a current leaf (else Conflict); no
        `_rev` creates the document (Conflict if it exists and is not
        deleted). The new revision id is deterministic: retrying the same
        edit returns the same revision and changes nothing.
        With new_edits=False, `_rev` and `_revisions` are taken as given
        (replication); an already-known revision is a no-op.
        """

    @abstractmethod
    def bulk_docs(
        self, docs: Iterable[Mapping], *, new_edits: bool = True, plain_json: bool = False
    ) -> list[dict]:
        """Save many documents in one durable transaction.

        new_edits=True: one row per input, ``{"ok": True, "id", "rev"}`` or
        ``{"id", "error", "reason"}``; a failing document does not stop the
        others. new_edits=False: only the failures are returned (CouchDB's
        answer), an empty list means everything was written. plain_json=True:
        the caller vouches that every document is plain JSON (it parsed them from
        a request and checked them with `documents.check_json_value`).
        """

    def prepare_bulk_docs(
        self, docs: Iterable[Mapping], *, new_edits: bool = True, plain_json: bool = False
    ) -> Callable[[], list[dict]]:
        """`bulk_docs` in two steps: check and encode `docs` now, write them when the
        returned function is called, with the same answer. The replicator prepares
        the next batch while the current one is being written. Stores whose checks
        are worth doing early override this; the default defers everything."""
        docs = check_doc_list(docs)
        return lambda: self.bulk_docs(docs, new_edits=new_edits, plain_json=plain_json)

    @abstractmethod
    def changes(
        self,
        *,
        since: Seq = 0,
        limit: int | None = None,
        style: str = "main_only",
        include_docs: bool = False,
        conflicts: bool = False,
        doc_ids: Iterable[str] | None = None,
        selector: Mapping | None = None,
    ) -> ChangesFeed:
        """Changes after `since`, oldest first, each document once.

        `style="all_docs"` lists every leaf in ``changes``; `doc_ids` and a
        Mango-style `selector` (on the winning body) filter rows while
        `last_seq` still advances past everything scanned.
        """

    @abstractmethod
    def revs_diff(self, revs: Mapping[str, list[str]]) -> dict[str, dict]:
        """``{id: {"missing": [...], "possible_ancestors"?: [...]}}`` for the
        revisions this store lacks; documents lacking nothing are omitted."""

    @abstractmethod
    def bulk_get(
        self, requests: Iterable[Mapping], *, revs: bool = True, attachments: bool = False
    ) -> list[dict]:
        """``_bulk_get``: requests are ``{"id", "rev"?, "atts_since"?}``.

        Returns CouchDB's form: ``[{"id", "docs": [{"ok": doc} | {"error":
        {"id", "rev", "error", "reason"}}]}]`` in request order.
        """

    @abstractmethod
    def all_docs(
        self,
        *,
        keys: list[str] | None = None,
        start_key: str | None = None,
        end_key: str | None = None,
        limit: int | None = None,
        include_docs: bool = False,
    ) -> Iterator[dict]:
        """Rows ``{"id", "key", "value": {"rev"}, "doc"?}`` in id order, lazily.
        Deleted documents are skipped unless asked for by `keys`."""

    @abstractmethod
    def get_local(self, local_id: str) -> dict:
        """A `_local` document (not replicated, no history); NotFound if absent."""

    @abstractmethod
    def put_local(self, doc: Mapping) -> str:
        """Write a `_local` document; `_rev` ("0-N") must match the stored one
        (Conflict otherwise, a missing `_rev` only creates). Returns the new rev."""

    @abstractmethod
    def delete_local(self, local_id: str, rev: str) -> None:
        """Delete a `_local` document; Conflict on a stale `rev`, NotFound if absent."""

    @abstractmethod
    def get_attachment(self, doc_id: str, name: str, *, rev: str | None = None) -> Attachment:
        """One attachment of the winning revision (or `rev`); NotFound if absent."""

    @abstractmethod
    def identity(self) -> str:
        """A stable name for this database (its URL without credentials, or its
        UUID): replication ids are derived from it."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections; the store must not be used afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
