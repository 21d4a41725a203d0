"""The `Store` interface: the CouchDB replication surface every node speaks.

A tablet (SqliteStore), a station hub (SqliteStore) and the county server
(CouchStore over HTTP, or SqliteStore embedded) all implement it, so one
replicator moves documents between any two of them. The behaviour is pinned
down by one conformance suite (tests/test_store_contract.py) that every
implementation runs unchanged.

Shape (PouchDB's pouchdb-core adapter.js): each public method checks and
normalizes its arguments once (`sync.arguments`), then calls a small primitive
the backend supplies (`_get`, `_bulk_docs`, `_changes`, `_info`, ...) with
arguments already checked: a backend never re-checks them, and every backend
refuses bad input with the same error.

Conventions shared by every method:
- Errors are `sync.errors.StoreError` subclasses with CouchDB's status and
  name: NotFound (404), Conflict (409), BadRequest (400), TooLarge (413).
- Documents are plain JSON dicts with CouchDB's special members (`_id`,
  `_rev`, `_deleted`, `_attachments`, `_revisions`, `_conflicts`).
- Sequences are opaque JSON values: compare them only with the store that
  produced them, and only by resuming from one (CouchDB's strings differ between
  two calls at the same point); pass `last_seq` back as `since`.
- Every write is atomic per call and durable once the call returns.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import arguments as args
from .documents import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_DOC_BYTES,
    CheckedDocument,
    check_document,
)
from .errors import BadRequest, NotFound, StoreError

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
    """A CouchDB-model document store. See the module docstring for conventions.

    Public methods check their arguments and call the primitives below them; a
    backend implements the primitives (and `identity`), never the public methods."""

    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES

    # -- the public API: checks, then a primitive ----------------------------------------------

    def info(self) -> dict:
        """``{"db_name", "doc_count", "doc_del_count", "update_seq",
        "instance_start_time"}``. `instance_start_time` is stable for the life
        of the database (replicators refuse to checkpoint when it changes)."""
        return self._info()

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
        Reading changes nothing, so a retry is always safe.
        """
        return self._get(
            args.doc_id(doc_id),
            args.optional_rev(rev),
            revs=bool(revs),
            conflicts=bool(conflicts),
            deleted_conflicts=bool(deleted_conflicts),
            attachments=bool(attachments),
            atts_since=args.atts_since(atts_since),
        )

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
        return self._open_revs(
            args.doc_id(doc_id),
            args.open_revs(revs),
            revs_history=bool(revs_history),
            attachments=bool(attachments),
            atts_since=args.atts_since(atts_since),
        )

    def put(self, doc: Mapping, *, new_edits: bool = True) -> str:
        """Save one document and return its new revision.

        With new_edits, `_rev` must name a current leaf (else Conflict); no
        `_rev` creates the document (Conflict if it exists and is not
        deleted). The new revision id is deterministic in our stores: retrying
        the same edit returns the same revision and changes nothing.
        With new_edits=False, `_rev` and `_revisions` are taken as given
        (replication); an already-known revision is a no-op.
        """
        (result,) = self._save_checked([self._check(doc, new_edits)], new_edits)()
        if isinstance(result, StoreError):
            raise result
        return result

    def bulk_docs(
        self, docs: Iterable[Mapping], *, new_edits: bool = True, plain_json: bool = False
    ) -> list[dict]:
        """Save many documents in one durable transaction.

        new_edits=True: one row per input, ``{"ok": True, "id", "rev"}`` or
        ``{"id", "error", "reason"}``; a failing document does not stop the
        others. new_edits=False: only the failures are returned (CouchDB's
        answer), an empty list means everything was written. plain_json=True:
        the caller vouches that every document is plain JSON (it parsed them from
        a request and checked them with `documents.check_json_value`). A retry
        of the same call writes nothing twice (see `put`).
        """
        return self.prepare_bulk_docs(docs, new_edits=new_edits, plain_json=plain_json)()

    def prepare_bulk_docs(
        self, docs: Iterable[Mapping], *, new_edits: bool = True, plain_json: bool = False
    ) -> Callable[[], list[dict]]:
        """`bulk_docs` in two steps: check and encode `docs` now, write them when the
        returned function is called, with the same answer. The replicator prepares
        the next batch while the current one is being written."""
        new_edits = args.flag(new_edits, "new_edits")
        docs = args.doc_list(docs)
        checked = [self._check(doc, new_edits, plain_json) for doc in docs]
        save = self._save_checked(checked, new_edits)

        def write() -> list[dict]:
            rows = []
            for doc, result in zip(docs, save(), strict=True):
                doc_id = doc.get("_id") if isinstance(doc, Mapping) else None
                if isinstance(result, StoreError):
                    rows.append({"id": doc_id, "error": result.error, "reason": result.reason})
                elif new_edits:
                    rows.append({"ok": True, "id": doc_id, "rev": result})
            return rows

        return write

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
        """Changes after `since`, each document once, at its newest change.

        The order is the store's own: one file's feed is in write order, CouchDB's
        interleaves its shards (differently from one call to the next). Resuming
        from any row's `seq` gives exactly the rows not given yet. `style="all_docs"`
        lists every leaf in ``changes``; `doc_ids` and a Mango-style `selector` (on
        the winning body) filter rows while `last_seq` still advances past
        everything scanned. A `since` the store did not produce is refused where
        the store can tell.
        """
        return self._changes(
            args.since(since),
            limit=args.limit(limit),
            style=args.style(style),
            include_docs=bool(include_docs),
            conflicts=bool(conflicts),
            doc_ids=args.doc_ids(doc_ids),
            matches=args.selector(selector),
        )

    def revs_diff(self, revs: Mapping[str, list[str]]) -> dict[str, dict]:
        """``{id: {"missing": [...], "possible_ancestors"?: [...]}}`` for the
        revisions this store lacks; documents lacking nothing are omitted."""
        return self._revs_diff(args.revs_diff(revs))

    def bulk_get(
        self, requests: Iterable[Mapping], *, revs: bool = True, attachments: bool = False
    ) -> list[dict]:
        """``_bulk_get``: requests are ``{"id", "rev"?, "atts_since"?}``.

        Returns CouchDB's form: ``[{"id", "docs": [{"ok": doc} | {"error":
        {"id", "rev", "error", "reason"}}]}]`` in request order. A request with a
        bad id or revision gets its own error entry; the others are answered.
        """
        wanted = args.bulk_get_requests(requests)
        answers: list[dict | None] = [None] * len(wanted)
        valid: list[tuple[int, dict]] = []
        for index, request in enumerate(wanted):
            try:
                valid.append((index, args.bulk_get_request(request)))
            except StoreError as exc:
                answers[index] = bulk_get_error(request.get("id"), request.get("rev"), exc)
        if valid:
            found = self._bulk_get([r for _, r in valid], revs=bool(revs), attachments=attachments)
            for (index, _), answer in zip(valid, found, strict=True):
                answers[index] = answer
        return answers  # type: ignore[return-value]

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
        Deleted documents are skipped unless asked for by `keys`; a key not held
        gives ``{"key", "error": "not_found"}``."""
        return self._all_docs(
            keys=None if keys is None else args.keys(keys),
            start_key=args.optional_key(start_key, "start_key"),
            end_key=args.optional_key(end_key, "end_key"),
            limit=args.limit(limit),
            include_docs=bool(include_docs),
        )

    def get_local(self, local_id: str) -> dict:
        """A `_local` document (not replicated, no history); NotFound if absent."""
        return self._get_local(args.local_id(local_id))

    def put_local(self, doc: Mapping) -> str:
        """Write a `_local` document; `_rev` ("0-N") must match the stored one
        (Conflict otherwise, a missing `_rev` only creates). Returns the new rev;
        a retry of a write that landed conflicts with it (the caller re-reads)."""
        local_id, rev, body = args.local_doc(doc)
        return self._put_local(local_id, rev, body)

    def delete_local(self, local_id: str, rev: str) -> None:
        """Delete a `_local` document; Conflict on a stale `rev`, NotFound if absent."""
        self._delete_local(args.local_id(local_id), rev)

    def get_attachment(self, doc_id: str, name: str, *, rev: str | None = None) -> Attachment:
        """One attachment of the winning revision (or `rev`); NotFound if absent."""
        if not isinstance(name, str) or not name:
            raise BadRequest("an attachment name must be a non-empty string")
        return self._get_attachment(args.doc_id(doc_id), name, args.optional_rev(rev))

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

    # -- checks shared by the writes -----------------------------------------------------------

    def _check(
        self, doc: object, new_edits: bool, plain_json: bool = False
    ) -> CheckedDocument | StoreError:
        try:
            return check_document(
                doc,
                max_doc_bytes=self.max_doc_bytes,
                max_attachment_bytes=self.max_attachment_bytes,
                new_edits=new_edits,
                plain_json=plain_json,
            )
        except StoreError as exc:
            return exc

    def _save_checked(
        self, checked: list[CheckedDocument | StoreError], new_edits: bool
    ) -> Callable[[], list[str | StoreError]]:
        """The backend's prepared write of the documents that passed, with the refusals
        put back in place: one result (a rev or an error) per document."""
        valid = [item for item in checked if isinstance(item, CheckedDocument)]
        save = self._prepare_bulk_docs(valid, new_edits) if valid else list

        def write() -> list[str | StoreError]:
            saved = iter(save())
            return [item if isinstance(item, StoreError) else next(saved) for item in checked]

        return write

    # -- the primitives a backend supplies, on checked arguments -------------------------------

    @abstractmethod
    def _info(self) -> dict: ...

    @abstractmethod
    def _get(
        self,
        doc_id: str,
        rev: str | None,
        *,
        revs: bool,
        conflicts: bool,
        deleted_conflicts: bool,
        attachments: bool,
        atts_since: list[str] | None,
    ) -> dict: ...

    @abstractmethod
    def _open_revs(
        self,
        doc_id: str,
        revs: list[str] | str,
        *,
        revs_history: bool,
        attachments: bool,
        atts_since: list[str] | None,
    ) -> list[dict]: ...

    @abstractmethod
    def _prepare_bulk_docs(
        self, docs: list[CheckedDocument], new_edits: bool
    ) -> Callable[[], list[str | StoreError]]:
        """Encode `docs` (each passed `check_document`) now; when called, write them
        in one transaction and give one result per document: its rev or the error
        refusing it (a failure never stops the others)."""

    @abstractmethod
    def _changes(
        self,
        since: Seq,
        *,
        limit: int | None,
        style: str,
        include_docs: bool,
        conflicts: bool,
        doc_ids: list[str] | None,
        matches: Callable[[Mapping], bool] | None,
    ) -> ChangesFeed:
        """`since` is not None or "now", but not parsed: the backend refuses one it did
        not produce where it can tell."""

    @abstractmethod
    def _revs_diff(self, revs: dict[str, list[str]]) -> dict[str, dict]: ...

    @abstractmethod
    def _bulk_get(self, requests: list[dict], *, revs: bool, attachments: bool) -> list[dict]:
        """`requests`: ``{"id", "rev": rev or None (the winner), "atts_since": [...] or
        None}``; one answer each, in order."""

    @abstractmethod
    def _all_docs(
        self,
        *,
        keys: list[str] | None,
        start_key: str | None,
        end_key: str | None,
        limit: int | None,
        include_docs: bool,
    ) -> Iterator[dict]: ...

    @abstractmethod
    def _get_local(self, local_id: str) -> dict: ...

    @abstractmethod
    def _put_local(self, local_id: str, rev: str | None, body: dict) -> str:
        """`local_id` without its prefix; `rev` as the caller claimed it."""

    @abstractmethod
    def _delete_local(self, local_id: str, rev: object) -> None: ...

    @abstractmethod
    def _get_attachment(self, doc_id: str, name: str, rev: str | None) -> Attachment: ...


def bulk_get_error(doc_id: object, rev: object, exc: StoreError) -> dict:
    """A ``_bulk_get`` answer refusing one request."""
    return {
        "id": doc_id,
        "docs": [{"error": {"id": doc_id, "rev": rev, "error": exc.error, "reason": exc.reason}}],
    }


def missing_from_bulk_get(doc_id: str, rev: str | None) -> dict:
    """The error entry of a revision (or a document, `rev` None) the store lacks."""
    return bulk_get_error(doc_id, rev or "undefined", NotFound("missing"))["docs"][0]
