"""`CouchStore`: the `Store` interface over HTTP, for CouchDB 3.x and any
CouchDB-protocol peer (PouchDB Server, Cloudant, our own gateway).

Documents are checked here exactly as `SqliteStore` checks them, so a bad
document gets the same error whatever the store. Feeds and listings are read
in pages, so memory stays flat however large the database. A `_bulk_docs`
answered with 413 is split in halves until the one oversize document is
reported as a per-document failure. Peers without `_bulk_get` are read with
``GET ?open_revs=`` instead.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping

from . import couch_quirks as quirks
from . import revtree
from .documents import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_DOC_BYTES,
    AttachmentStub,
    CheckedDocument,
    attachment_digest,
    check_doc_id,
    check_doc_list,
    check_document,
    check_json_value,
    dump_json,
    local_doc_id,
)
from .errors import (
    BadRequest,
    Conflict,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooLarge,
    from_row,
)
from .http_client import EncodedBody, HttpClient, RetryPolicy, quote_id
from .selector import compile_selector
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
            try:
                self.http.request("PUT")
            except StoreError as exc:
                if exc.status != 412:  # 412: it exists already
                    raise

    def close(self) -> None:
        self.http.close()

    def identity(self) -> str:
        return self.url

    # -- reading -------------------------------------------------------------------------------

    def info(self) -> dict:
        info = self.http.json("GET")
        info.setdefault("doc_del_count", None)  # type: ignore[union-attr]  # PouchDB Server omits it
        return info  # type: ignore[return-value]

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
        params: dict = {}
        if rev is not None:
            params["rev"] = revtree.normalize_rev(rev)
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
        doc = self.http.json("GET", quote_id(check_doc_id(doc_id)), params=params)
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

    def open_revs(
        self,
        doc_id: str,
        revs: list[str] | str,
        *,
        revs_history: bool = True,
        attachments: bool = False,
        atts_since: list[str] | None = None,
    ) -> list[dict]:
        if revs != "all":
            if not isinstance(revs, list):
                raise BadRequest("open_revs must be a list of revisions or 'all'")
            revs = [revtree.normalize_rev(r) for r in revs]
        params = {
            "open_revs": "all" if revs == "all" else json.dumps(revs),
            "revs": "true" if revs_history else "false",
        }
        if attachments:
            params["attachments"] = "true"
        if atts_since:
            params["atts_since"] = json.dumps(atts_since)
        try:
            found = self.http.json("GET", quote_id(check_doc_id(doc_id)), params=params)
        except NotFound:
            return [] if revs == "all" else [{"missing": r} for r in revs]
        return [item for item in found if item]  # type: ignore[union-attr]

    def bulk_get(
        self, requests: Iterable[Mapping], *, revs: bool = True, attachments: bool = False
    ) -> list[dict]:
        wanted = [dict(request) for request in requests]
        for request in wanted:
            check_doc_id(request.get("id"))
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

    def revs_diff(self, revs: Mapping[str, list[str]]) -> dict[str, dict]:
        if not isinstance(revs, Mapping):
            raise BadRequest("_revs_diff needs an object of {id: [revs]}")
        body = {
            check_doc_id(doc_id): [revtree.normalize_rev(r) for r in doc_revs]
            for doc_id, doc_revs in revs.items()
        }
        return self.http.json("POST", "_revs_diff", body=body)  # type: ignore[return-value]

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
        if style not in ("main_only", "all_docs"):
            raise BadRequest(f"style must be main_only or all_docs, not {style!r}")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise BadRequest("limit must be a non-negative integer")
        if since in (None, "now"):
            raise BadRequest("since must be a sequence this store produced")
        ids = [check_doc_id(i) for i in doc_ids] if doc_ids is not None else None
        # Selectors run here, with the same code as every other store: peers differ
        # (PouchDB Server has no _selector filter) and scoping must not rely on them.
        matches = compile_selector(selector) if selector is not None else None
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

    def all_docs(
        self,
        *,
        keys: list[str] | None = None,
        start_key: str | None = None,
        end_key: str | None = None,
        limit: int | None = None,
        include_docs: bool = False,
    ) -> Iterator[dict]:
        params = {"include_docs": "true"} if include_docs else {}
        if keys is not None:
            answer = self.http.json(
                "POST", "_all_docs", params=params, body={"keys": [check_doc_id(k) for k in keys]}
            )
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

    def get_attachment(self, doc_id: str, name: str, *, rev: str | None = None) -> Attachment:
        params = {"rev": revtree.normalize_rev(rev)} if rev else None
        response = self.http.request(
            "GET",
            f"{quote_id(check_doc_id(doc_id))}/{quote_id(name)}",
            params=params,
            headers={"Accept": "*/*"},
        )
        return Attachment(
            response.content,
            response.headers.get("Content-Type", "application/octet-stream"),
            attachment_digest(response.content),
        )

    # -- writing -------------------------------------------------------------------------------

    def put(self, doc: Mapping, *, new_edits: bool = True) -> str:
        (row,) = self.bulk_docs([doc], new_edits=new_edits) or [{"ok": True}]
        if "error" in row:
            raise from_row(row)
        return row.get("rev") or revtree.normalize_rev(doc["_rev"])

    def bulk_docs(
        self, docs: Iterable[Mapping], *, new_edits: bool = True, plain_json: bool = False
    ) -> list[dict]:
        return self.prepare_bulk_docs(docs, new_edits=new_edits, plain_json=plain_json)()

    def prepare_bulk_docs(
        self, docs: Iterable[Mapping], *, new_edits: bool = True, plain_json: bool = False
    ) -> Callable[[], list[dict]]:
        """Check, encode and gzip the request now; send it when called."""
        docs = check_doc_list(docs)
        rows: list[dict | None] = [None] * len(docs)
        valid: list[int] = []
        texts: list[str] = []  # each document's JSON, encoded once by the checks
        for index, doc in enumerate(docs):
            try:
                checked = check_document(
                    doc,
                    max_doc_bytes=self.max_doc_bytes,
                    max_attachment_bytes=self.max_attachment_bytes,
                    new_edits=new_edits,
                    plain_json=plain_json,
                )
                full = self._with_full_stubs(checked, doc) if new_edits else doc
                texts.append(checked.to_json() if full is doc else dump_json(full))
                docs[index] = full
                valid.append(index)
            except StoreError as exc:
                doc_id = doc.get("_id") if isinstance(doc, Mapping) else None
                rows[index] = {"id": doc_id, "error": exc.error, "reason": exc.reason}
        sent = [docs[i] for i in valid]
        flag = "true" if new_edits else "false"
        body = self.http.encode(f'{{"docs":[{",".join(texts)}],"new_edits":{flag}}}')

        def write() -> list[dict]:
            for index, row in zip(valid, self._post_bulk(sent, new_edits, body), strict=True):
                rows[index] = row
            if new_edits:
                return rows  # type: ignore[return-value]
            return [row for row in rows if row is not None and "error" in row]

        return write

    def _with_full_stubs(self, checked: CheckedDocument, doc: Mapping) -> Mapping:
        """Give bare ``{"stub": true}`` attachments their digest from the parent
        revision: CouchDB finds them by name, PouchDB only by digest."""
        bare = [
            name
            for name, att in checked.attachments.items()
            if isinstance(att, AttachmentStub) and att.digest is None
        ]
        if not bare:
            return doc
        parent_atts: dict = {}
        if "_rev" in checked.special:
            try:
                parent = self.get(checked.doc_id, rev=checked.special["_rev"])
                parent_atts = parent.get("_attachments", {})
            except NotFound:
                pass
        attachments = dict(doc["_attachments"])
        for name in bare:
            if name not in parent_atts:
                raise PreconditionFailed(
                    f"Invalid attachment stub in {checked.doc_id[:80]!r} "
                    f"for {name[:80]!r}: the parent revision has no such "
                    "attachment"
                )
            attachments[name] = {**parent_atts[name], "stub": True}
        return {**doc, "_attachments": attachments}

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
    def _local_path(local_id: object) -> str:
        return "_local/" + quote_id(local_doc_id(local_id))

    def get_local(self, local_id: str) -> dict:
        return self.http.json("GET", self._local_path(local_id))  # type: ignore[return-value]

    def put_local(self, doc: Mapping) -> str:
        if not isinstance(doc, Mapping):
            raise BadRequest("a _local document must be a JSON object")
        path = self._local_path(doc.get("_id"))
        check_json_value(doc, path)
        # Checked here too: some peers (PouchDB Server) take any _rev for _local docs.
        # The rev this store last wrote is trusted without a read: a checkpoint per
        # batch then costs one request, not two (CouchDB itself still checks).
        if doc.get("_rev") is None or doc.get("_rev") != self._local_revs.get(path):
            try:
                current = self.http.json("GET", path)["_rev"]  # type: ignore[index]
            except NotFound:
                current = None
            if doc.get("_rev") != current:
                raise Conflict(
                    f"Document update conflict: {path} is at "
                    f"{current or 'no revision'}, not {doc.get('_rev')}"
                )
        rev = self.http.json("PUT", path, body=dict(doc))["rev"]  # type: ignore[index]
        self._local_revs[path] = rev
        return rev

    def delete_local(self, local_id: str, rev: str) -> None:
        path = self._local_path(local_id)
        current = self.http.json("GET", path)["_rev"]  # type: ignore[index]
        if rev != current:
            raise Conflict(f"Document update conflict: {path} is at {current}")
        self.http.request("DELETE", path, params={"rev": rev})
