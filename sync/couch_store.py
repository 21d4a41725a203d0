"""`CouchStore`: the `Store` interface over HTTP, for CouchDB 3.x and any
CouchDB-protocol peer (PouchDB Server, Cloudant, our own gateway).

Documents are checked here exactly as `SqliteStore` checks them, so a bad
document gets the same error whatever the store. Feeds and listings are read
in pages, so memory stays flat however large the database. A `_bulk_docs`
answered with 413 is split in halves until the one oversize document is
reported as a per-document failure. Peers without `_bulk_get` are read with
``GET ?open_revs=`` instead.

It implements the `Store` primitives only: `Store`'s public methods have checked
(with the same checks `SqliteStore` gets) and normalized every argument first.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping

from . import couch_quirks as quirks
from . import revtree
from .documents import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_DOC_BYTES,
    AttachmentStub,
    CheckedDocument,
    attachment_digest,
    dump_json,
)
from .errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooLarge,
    from_row,
)
from .http_client import EncodedBody, HttpClient, RetryPolicy, quote_id
from .store import Attachment, ChangesFeed, Seq, Store

PAGE_ROWS = 1000  # rows per _changes / _all_docs request


class CouchStore(Store):
    """One remote database, e.g. ``CouchStore("http://user:pw@127.0.0.1:5984/county")``."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        cookie_auth: bool = False,
        create: bool = False,
        timeout: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        compress: bool = True,
        max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
        max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    ) -> None:
        self.http = HttpClient(
            url,
            username=username,
            password=password,
            cookie_auth=cookie_auth,
            timeout=timeout,
            retry=retry,
            compress=compress,
        )
        self.url = self.http.base_url  # without credentials: safe to log
        self.max_doc_bytes = max_doc_bytes
        self.max_attachment_bytes = max_attachment_bytes
        self._has_bulk_get = True
        self._local_revs: dict[str, str] = {}  # _local path -> the rev this store wrote
        if create:
            self._create_if_missing()

    def _create_if_missing(self) -> None:
        """Look first, create only a missing database: CouchDB answers a member who may
        read and write an existing database, but not create one, 401 for a PUT."""
        try:
            self.http.request("GET")
            return
        except NotFound:
            pass
        try:
            self.http.request("PUT")
        except StoreError as exc:
            if exc.status != 412:  # 412: created meanwhile by somebody else
                raise

    def close(self) -> None:
        self.http.close()

    def identity(self) -> str:
        return self.url

    # -- reading -------------------------------------------------------------------------------

    def _info(self) -> dict:
        info = self.http.json("GET")
        info.setdefault("doc_del_count", None)  # type: ignore[union-attr]  # PouchDB Server omits it
        return info  # type: ignore[return-value]

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
    ) -> dict:
        params: dict = {}
        if rev is not None:
            params["rev"] = rev
        for name, wanted in (
            ("revs", revs),
            ("conflicts", conflicts),
            ("deleted_conflicts", deleted_conflicts),
            ("attachments", attachments),
        ):
            if wanted:
                params[name] = "true"
        if atts_since:
            params["atts_since"] = json.dumps(atts_since)
        if atts_since and attachments:
            params["revs"] = "true"  # to see which atts_since revisions are ancestors
        doc = self.http.json("GET", quote_id(doc_id), params=params)
        if atts_since and attachments:
            quirks.stub_attachments_held_since(doc, atts_since)  # type: ignore[arg-type]
            if not revs:
                doc.pop("_revisions", None)  # type: ignore[union-attr]
        if deleted_conflicts and "_deleted_conflicts" not in doc:  # type: ignore[operator]
            # PouchDB Server ignores the option: derive it from the leaves.
            leaves = self.open_revs(doc_id, "all", revs_history=False)
            dead = [
                item["ok"]["_rev"]
                for item in leaves
                if "ok" in item and item["ok"].get("_deleted") and item["ok"]["_rev"] != doc["_rev"]
            ]
            if dead:
                dead.sort(key=lambda r: (revtree.rev_pos(r), r.partition("-")[2]), reverse=True)
                doc["_deleted_conflicts"] = dead  # type: ignore[index]
        return doc  # type: ignore[return-value]

    def _open_revs(
        self,
        doc_id: str,
        revs: list[str] | str,
        *,
        revs_history: bool,
        attachments: bool,
        atts_since: list[str] | None,
    ) -> list[dict]:
        params = {
            "open_revs": "all" if revs == "all" else json.dumps(revs),
            "revs": "true" if revs_history else "false",
        }
        if attachments:
            params["attachments"] = "true"
        if atts_since:
            params["atts_since"] = json.dumps(atts_since)
        try:
            found = self.http.json("GET", quote_id(doc_id), params=params)
        except NotFound:
            return [] if revs == "all" else [{"missing": r} for r in revs]
        return [item for item in found if item]  # type: ignore[union-attr]

    def _bulk_get(self, requests: list[dict], *, revs: bool, attachments: bool) -> list[dict]:
        # Only what was asked: CouchDB reads an absent rev as the winner.
        wanted = [{k: v for k, v in request.items() if v is not None} for request in requests]
        if self._has_bulk_get:
            params = {"revs": "true" if revs else "false"}
            if attachments:
                params["attachments"] = "true"
            try:
                answer = self.http.json("POST", "_bulk_get", params=params, body={"docs": wanted})
                results = answer["results"]  # type: ignore[index]
                if len(results) == len(wanted):
                    return [
                        quirks.normal_bulk_get_result(result, request)
                        for result, request in zip(results, wanted, strict=True)
                    ]
                # PouchDB Server merges requests for the same id into one result: the
                # answers no longer line up with the requests, so ask one by one.
                return [self._bulk_get_one(request, revs, attachments) for request in wanted]
            except StoreError as exc:
                if exc.status not in (400, 404, 405):
                    raise
                self._has_bulk_get = False  # an old peer: fall back for good
        return [self._bulk_get_one(request, revs, attachments) for request in wanted]

    def _bulk_get_one(self, request: dict, revs: bool, attachments: bool) -> dict:
        doc_id, rev = request["id"], request.get("rev")
        if rev is None:
            try:
                rev = self.get(doc_id)["_rev"]
            except NotFound as exc:
                return {"id": doc_id, "docs": [quirks.missing(doc_id, "undefined", exc.reason)]}
        found = self.open_revs(
            doc_id,
            [rev],
            revs_history=revs,
            attachments=attachments,
            atts_since=request.get("atts_since"),
        )
        return {
            "id": doc_id,
            "docs": [
                {"ok": item["ok"]} if "ok" in item else quirks.missing(doc_id, rev, "missing")
                for item in found
            ],
        }

    def _revs_diff(self, revs: dict[str, list[str]]) -> dict[str, dict]:
        return self.http.json("POST", "_revs_diff", body=revs)  # type: ignore[return-value]

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
        ids = doc_ids
        # Selectors run here (`matches`), with the same code as every other store: peers
        # differ (PouchDB Server has no _selector filter) and scoping must not rely on them.
        # Without a filter no more rows than asked for are fetched: bytes matter on the link.
        page_rows = min(PAGE_ROWS, limit) if limit and matches is None else PAGE_ROWS
        return ChangesFeed(
            since,
            lambda feed: self._change_rows(
                feed, since, page_rows, style, include_docs, conflicts, ids, matches
            ),
            limit,
        )

    def _change_rows(
        self,
        feed: ChangesFeed,
        since: Seq,
        page_rows: int,
        style: str,
        include_docs: bool,
        conflicts: bool,
        ids: list[str] | None,
        matches,
    ) -> Iterator[dict]:
        position = since
        while True:
            params = {
                "since": position if isinstance(position, str) else json.dumps(position),
                "style": style,
                "limit": page_rows,
            }
            if include_docs or matches:
                params["include_docs"] = "true"
            if conflicts:
                params["conflicts"] = "true"
            if ids is not None:
                params["filter"] = "_doc_ids"
                page = self.http.json("POST", "_changes", params=params, body={"doc_ids": ids})
            else:
                page = self.http.json("GET", "_changes", params=params)
            rows = page["results"]  # type: ignore[index]
            for row in rows:
                position = row["seq"]
                feed.set_last_seq(position)
                if matches is not None and not matches(row["doc"]):
                    continue
                if not include_docs:
                    row.pop("doc", None)
                yield row
            position = page["last_seq"]  # type: ignore[index]
            feed.set_last_seq(position)
            if len(rows) < page_rows:
                return

    def _all_docs(
        self,
        *,
        keys: list[str] | None,
        start_key: str | None,
        end_key: str | None,
        limit: int | None,
        include_docs: bool,
    ) -> Iterator[dict]:
        params = {"include_docs": "true"} if include_docs else {}
        if keys is not None:
            answer = self.http.json("POST", "_all_docs", params=params, body={"keys": keys})
            return iter(answer["rows"])  # type: ignore[index]
        page_rows = min(PAGE_ROWS, limit) if limit else PAGE_ROWS
        rows = self._all_docs_pages(params, start_key, end_key, page_rows)
        return rows if limit is None else itertools.islice(rows, limit)

    def _all_docs_pages(
        self, params: dict, start_key: str | None, end_key: str | None, page_rows: int
    ) -> Iterator[dict]:
        skip, position = 0, start_key
        while True:
            page_params = {**params, "limit": page_rows, "skip": skip}
            if position is not None:
                page_params["startkey"] = json.dumps(position)
            if end_key is not None:
                page_params["endkey"] = json.dumps(end_key)
            rows = self.http.json("GET", "_all_docs", params=page_params)["rows"]  # type: ignore
            yield from rows
            if len(rows) < page_rows:
                return
            position, skip = rows[-1]["id"], 1  # resume after the last id seen

    def _get_attachment(self, doc_id: str, name: str, rev: str | None) -> Attachment:
        params = {"rev": rev} if rev else None
        response = self.http.request(
            "GET",
            f"{quote_id(doc_id)}/{quote_id(name)}",
            params=params,
            headers={"Accept": "*/*"},
        )
        return Attachment(
            response.content,
            response.headers.get("Content-Type", "application/octet-stream"),
            attachment_digest(response.content),
        )

    # -- writing -------------------------------------------------------------------------------

    def _prepare_bulk_docs(
        self, docs: list[CheckedDocument], new_edits: bool
    ) -> Callable[[], list[str | StoreError]]:
        """Encode and gzip the request now, reusing each document's JSON from the checks;
        send it when called."""
        results: list[str | StoreError | None] = [None] * len(docs)
        sent: list[Mapping] = []
        sent_at: list[int] = []
        texts: list[str] = []
        for index, checked in enumerate(docs):
            try:
                full = self._with_full_stubs(checked) if new_edits else None
            except StoreError as exc:
                exc.doc_id = checked.doc_id
                results[index] = exc
                continue
            texts.append(checked.to_json() if full is None else dump_json(full))
            sent.append(full or {**checked.special, **checked.body})
            sent_at.append(index)
        flag = "true" if new_edits else "false"
        body = self.http.encode(f'{{"docs":[{",".join(texts)}],"new_edits":{flag}}}')

        def write() -> list[str | StoreError]:
            rows = self._post_bulk(sent, new_edits, body) if sent else []
            for index, row in zip(sent_at, rows, strict=True):
                if "error" in row:
                    results[index] = from_row({**row, "id": docs[index].doc_id})
                else:
                    results[index] = row.get("rev") or docs[index].special["_rev"]
            return results  # type: ignore[return-value]

        return write

    def _with_full_stubs(self, checked: CheckedDocument) -> dict | None:
        """The document with its bare ``{"stub": true}`` attachments given their digest
        from the parent revision (CouchDB finds them by name, PouchDB only by digest),
        or None when it has none."""
        bare = [
            name
            for name, att in checked.attachments.items()
            if isinstance(att, AttachmentStub) and att.digest is None
        ]
        if not bare:
            return None
        parent_atts: dict = {}
        if "_rev" in checked.special:
            try:
                parent = self.get(checked.doc_id, rev=checked.special["_rev"])
                parent_atts = parent.get("_attachments", {})
            except NotFound:
                pass
        attachments = dict(checked.special["_attachments"])
        for name in bare:
            if name not in parent_atts:
                raise PreconditionFailed(
                    f"Invalid attachment stub in {checked.doc_id[:80]!r} "
                    f"for {name[:80]!r}: the parent revision has no such "
                    "attachment"
                )
            attachments[name] = {**parent_atts[name], "stub": True}
        return {**checked.special, **checked.body, "_attachments": attachments}

    def _post_bulk(
        self, docs: list[Mapping], new_edits: bool, encoded: EncodedBody | None = None
    ) -> list[dict]:
        """One row per document (errors only from the peer when new_edits=false,
        so the others are filled in as ok). `encoded` is `docs` ready to send."""
        if not docs:
            return []
        try:
            answer = self.http.json(
                "POST", "_bulk_docs", body=encoded or {"docs": docs, "new_edits": new_edits}
            )
        except TooLarge as exc:
            if len(docs) == 1:
                return [
                    {
                        "id": docs[0].get("_id"),
                        "error": "too_large",
                        "reason": f"the peer refused this document as too large: {exc.reason}",
                    }
                ]
            half = len(docs) // 2
            return self._post_bulk(docs[:half], new_edits) + self._post_bulk(docs[half:], new_edits)
        if new_edits:
            return [
                self._landed_already(doc, row) if row.get("error") == "conflict" else row
                for doc, row in zip(docs, answer, strict=True)
            ]  # type: ignore[arg-type]
        failures = {row.get("id"): row for row in answer}  # type: ignore[union-attr]
        return [failures.get(doc.get("_id"), {"ok": True, "id": doc.get("_id")}) for doc in docs]

    def _landed_already(self, doc: Mapping, conflict: dict) -> dict:
        """A conflict may be our own earlier try, whose answer the link lost: if the
        current revision holds exactly this edit of the same parent, it succeeded."""
        try:
            current = self.get(str(doc["_id"]), revs=True)
        except NotFound:
            return conflict
        history = revtree.path_from_revisions(current["_revisions"])
        parent_ok = (
            history[1:2] == [revtree.normalize_rev(doc["_rev"])]
            if "_rev" in doc
            else len(history) == 1
        )
        same = all(
            current.get(k) == v for k, v in doc.items() if not k.startswith("_")
        ) and not any(k not in doc for k in current if not k.startswith("_"))
        if parent_ok and same:
            return {"ok": True, "id": doc["_id"], "rev": current["_rev"]}
        return conflict

    # -- _local documents ----------------------------------------------------------------------

    @staticmethod
    def _local_path(local_id: str) -> str:
        return "_local/" + quote_id(local_id)

    def _get_local(self, local_id: str) -> dict:
        return self.http.json("GET", self._local_path(local_id))  # type: ignore[return-value]

    def _put_local(self, local_id: str, rev: str | None, body: dict) -> str:
        path = self._local_path(local_id)
        # Checked here too: some peers (PouchDB Server) take any _rev for _local docs.
        # The rev this store last wrote is trusted without a read: a checkpoint per
        # batch then costs one request, not two (CouchDB itself still checks).
        if rev is None or rev != self._local_revs.get(path):
            try:
                current = self.http.json("GET", path)["_rev"]  # type: ignore[index]
            except NotFound:
                current = None
            if rev != current:
                raise Conflict(
                    f"Document update conflict: {path} is at {current or 'no revision'}, not {rev}"
                )
        doc = {"_id": f"_local/{local_id}", **body}
        if rev is not None:
            doc["_rev"] = rev
        written = self.http.json("PUT", path, body=doc)["rev"]  # type: ignore[index]
        self._local_revs[path] = written
        return written

    def _delete_local(self, local_id: str, rev: object) -> None:
        path = self._local_path(local_id)
        current = self.http.json("GET", path)["_rev"]  # type: ignore[index]
        if rev != current:
            raise Conflict(f"Document update conflict: {path} is at {current}")
        self.http.request("DELETE", path, params={"rev": rev})
