"""`SqliteStore`: the embedded `Store`, one SQLite file per database.

Durability: WAL with ``synchronous=FULL`` so a call that returned survives a
crash or a battery cut; each call is one ``BEGIN IMMEDIATE`` transaction, so a
bulk save is all or nothing. Each thread gets its own connection; processes
share the file through SQLite's locking. Only leaf revisions keep a body
(CouchDB keeps no more after compaction); attachments are stored once per
digest and dropped when no revision refers to them.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping

from . import revtree
from . import sqlite_revisions as revisions
from .documents import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_DOC_BYTES,
    CheckedDocument,
    check_doc_id,
    check_doc_list,
    check_document,
    check_json_value,
    dump_json,
    local_doc_id,
)
from .errors import BadRequest, Conflict, NotFound, StoreError
from .selector import compile_selector
from .sqlite_changes import PAGE_ROWS, pages_for
from .sqlite_database import SqliteDatabase
from .store import Attachment, ChangesFeed, Seq, Store


class SqliteStore(Store):
    """A CouchDB-model store in one SQLite file. Safe across threads and processes."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        revs_limit: int = revtree.DEFAULT_REVS_LIMIT,
        max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
        max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    ) -> None:
        self.path = os.fspath(path)
        self.name = os.path.splitext(os.path.basename(self.path))[0]
        self.revs_limit = revs_limit
        self.max_doc_bytes = max_doc_bytes
        self.max_attachment_bytes = max_attachment_bytes
        self._db = SqliteDatabase(self.path)
        self._write, self._read = self._db.write, self._db.read

    def close(self) -> None:
        self._db.close()

    def identity(self) -> str:
        return "sqlite:" + self.info()["uuid"]

    # -- reading -----------------------------------------------------------------------------

    def info(self) -> dict:
        with self._read() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            live, dead = conn.execute(
                "SELECT COALESCE(SUM(deleted = 0), 0), COALESCE(SUM(deleted), 0) FROM docs"
            ).fetchone()
        return {
            "db_name": self.name,
            "doc_count": live,
            "doc_del_count": dead,
            "update_seq": int(meta["update_seq"]),
            "instance_start_time": meta["instance_start_time"],
            "uuid": meta["uuid"],
        }

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
        check_doc_id(doc_id)
        wanted = revtree.normalize_rev(rev) if rev is not None else None
        with self._read() as conn:
            tree = revisions.load_tree(conn, doc_id)
            if tree is None:
                raise NotFound("missing", doc_id=doc_id)
            if wanted is None:
                wanted = revtree.winning_rev(tree)
                if tree[wanted].deleted:
                    raise NotFound("deleted", doc_id=doc_id)
            if wanted not in tree:
                raise NotFound("missing", doc_id=doc_id)
            doc = revisions.build_doc(
                conn,
                doc_id,
                wanted,
                tree,
                revs=revs,
                attachments=attachments,
                atts_since=atts_since,
                revs_limit=self.revs_limit,
            )
        if doc is None:
            raise NotFound("missing", doc_id=doc_id)  # an ancestor whose body was compacted
        if conflicts and (found := revtree.conflicts(tree)):
            doc["_conflicts"] = found
        if deleted_conflicts and (found := revtree.deleted_conflicts(tree)):
            doc["_deleted_conflicts"] = found
        return doc

    def open_revs(
        self,
        doc_id: str,
        revs: list[str] | str,
        *,
        revs_history: bool = True,
        attachments: bool = False,
        atts_since: list[str] | None = None,
    ) -> list[dict]:
        check_doc_id(doc_id)
        if revs != "all":
            if not isinstance(revs, list):
                raise BadRequest("open_revs must be a list of revisions or 'all'")
            revs = [revtree.normalize_rev(r) for r in revs]
        with self._read() as conn:
            return self._open_revs(conn, doc_id, revs, revs_history, attachments, atts_since)

    def _open_revs(
        self,
        conn: sqlite3.Connection,
        doc_id: str,
        revs: list[str] | str,
        revs_history: bool,
        attachments: bool,
        atts_since: list[str] | None,
    ) -> list[dict]:
        """`open_revs` inside a read transaction the caller holds; `revs` normalised,
        or "all"; for `bulk_get`, ``None`` in the list means the winner."""
        tree = revisions.load_tree(conn, doc_id)
        if tree is None:
            return [] if revs == "all" else [{"missing": r} for r in revs if r]
        if revs == "all":
            wanted = revtree.leaves(tree)
        else:
            wanted = [r if r else revtree.winning_rev(tree) for r in revs]
        results = []
        for rev in wanted:
            doc = None
            if rev in tree:
                doc = revisions.build_doc(
                    conn,
                    doc_id,
                    rev,
                    tree,
                    revs=revs_history,
                    attachments=attachments,
                    atts_since=atts_since,
                    revs_limit=self.revs_limit,
                )
            results.append({"ok": doc} if doc is not None else {"missing": rev})
        return results

    def bulk_get(
        self, requests: Iterable[Mapping], *, revs: bool = True, attachments: bool = False
    ) -> list[dict]:
        results = []
        with self._read() as conn:  # one snapshot, one transaction for the whole batch
            for request in requests:
                if not isinstance(request, Mapping):
                    raise BadRequest("each _bulk_get request must be an object with an 'id'")
                doc_id, rev = request.get("id"), request.get("rev")
                try:
                    check_doc_id(doc_id)
                    wanted = [revtree.normalize_rev(rev) if rev is not None else None]
                    found = self._open_revs(
                        conn, doc_id, wanted, revs, attachments, request.get("atts_since")
                    )
                    docs = [
                        {"ok": item["ok"]}
                        if "ok" in item
                        else _bulk_get_error(doc_id, item["missing"], NotFound("missing"))
                        for item in found
                    ] or [_bulk_get_error(doc_id, "undefined", NotFound("missing"))]
                except StoreError as exc:
                    docs = [_bulk_get_error(doc_id, rev, exc)]
                results.append({"id": doc_id, "docs": docs})
        return results

    def revs_diff(self, revs: Mapping[str, list[str]]) -> dict[str, dict]:
        if not isinstance(revs, Mapping):
            raise BadRequest("_revs_diff needs an object of {id: [revs]}")
        answer = {}
        for doc_id, doc_revs in revs.items():
            check_doc_id(doc_id)
            if not isinstance(doc_revs, list):
                raise BadRequest(f"_revs_diff: revisions of {doc_id[:80]!r} must be a list")
        with self._read() as conn:
            trees = revisions.load_trees(conn, list(revs))
            for doc_id, doc_revs in revs.items():
                wanted = [revtree.normalize_rev(r) for r in doc_revs]
                tree = trees.get(doc_id, {})
                missing = revtree.missing_revs(tree, wanted)
                if not missing:
                    continue
                entry: dict = {"missing": missing}
                top = max(revtree.rev_pos(r) for r in missing)
                ancestors = [r for r in revtree.leaves(tree) if revtree.rev_pos(r) < top]
                if ancestors:
                    entry["possible_ancestors"] = ancestors
                answer[doc_id] = entry
        return answer

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
        since_seq = self._parse_seq(since)
        if style not in ("main_only", "all_docs"):
            raise BadRequest(f"style must be main_only or all_docs, not {style!r}")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise BadRequest("limit must be a non-negative integer")
        ids = [check_doc_id(i) for i in doc_ids] if doc_ids is not None else None
        matches = compile_selector(selector) if selector is not None else None
        load_docs = include_docs or matches is not None
        return ChangesFeed(
            since_seq,
            lambda feed: self._change_rows(
                feed, since_seq, style, load_docs, include_docs, conflicts, ids, matches
            ),
            limit,
        )

    @staticmethod
    def _parse_seq(since: Seq) -> int:
        if since in (None, "now"):
            raise BadRequest("since must be a sequence this store produced")
        try:
            seq = int(since)
        except (TypeError, ValueError):
            raise BadRequest(
                f"since is not a sequence of this store: {str(since)[:80]!r}"
            ) from None
        if seq < 0:
            raise BadRequest("since must not be negative")
        return seq

    def _change_rows(
        self,
        feed: ChangesFeed,
        since: int,
        style: str,
        load_docs: bool,
        include_docs: bool,
        conflicts: bool,
        ids: list[str] | None,
        matches,
    ) -> Iterator[dict]:
        pages = pages_for(since, ids)
        while True:
            with self._read() as conn:
                rows, ended = pages.next_page(conn)
                page = []
                for doc_id, seq, winner, deleted, tree_json in rows:
                    tree = revtree.tree_from_json(tree_json)
                    doc = revisions.build_doc(conn, doc_id, winner, tree) if load_docs else None
                    page.append((doc_id, seq, winner, deleted, tree, doc))
            for doc_id, seq, winner, deleted, tree, doc in page:
                feed.set_last_seq(seq)
                # tombstones are matched too: one that kept its `place` stays in scope
                if matches is not None and not matches(doc):
                    continue
                revs = revtree.leaves(tree) if style == "all_docs" else [winner]
                row: dict = {"seq": seq, "id": doc_id, "changes": [{"rev": r} for r in revs]}
                if deleted:
                    row["deleted"] = True
                if include_docs:
                    if conflicts and (found := revtree.conflicts(tree)):
                        doc = {**doc, "_conflicts": found}
                    row["doc"] = doc
                yield row
            feed.set_last_seq(pages.position)  # past what the page's reading considered
            if ended:
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
        if keys is not None:
            return self._all_docs_by_keys(keys, include_docs)
        rows = self._all_docs_range(start_key, end_key, include_docs)
        return rows if limit is None else itertools.islice(rows, limit)

    def _all_docs_by_keys(self, keys: list[str], include_docs: bool) -> Iterator[dict]:
        for key in keys:
            yield self._all_docs_row(check_doc_id(key), include_docs)

    def _all_docs_row(self, key: str, include_docs: bool) -> dict:
        with self._read() as conn:
            tree = revisions.load_tree(conn, key)
            if tree is None:
                return {"key": key, "error": "not_found"}
            winner = revtree.winning_rev(tree)
            deleted = tree[winner].deleted
            row: dict = {"id": key, "key": key, "value": {"rev": winner}}
            if deleted:
                row["value"]["deleted"] = True
            if include_docs:
                row["doc"] = None if deleted else revisions.build_doc(conn, key, winner, tree)
        return row

    def _all_docs_range(
        self, start_key: str | None, end_key: str | None, include_docs: bool
    ) -> Iterator[dict]:
        position, inclusive = start_key or "", True
        while True:
            with self._read() as conn:
                after = ">=" if inclusive else ">"
                rows = conn.execute(
                    f"SELECT doc_id, winner, tree FROM docs WHERE doc_id {after} ?"
                    " AND deleted = 0 AND (? IS NULL OR doc_id <= ?) ORDER BY doc_id LIMIT ?",
                    (position, end_key, end_key, PAGE_ROWS),
                ).fetchall()
                page = [
                    (
                        doc_id,
                        winner,
                        revisions.build_doc(conn, doc_id, winner, revtree.tree_from_json(tree))
                        if include_docs
                        else None,
                    )
                    for doc_id, winner, tree in rows
                ]
            for doc_id, winner, doc in page:
                row: dict = {"id": doc_id, "key": doc_id, "value": {"rev": winner}}
                if include_docs:
                    row["doc"] = doc
                yield row
            if len(rows) < PAGE_ROWS:
                return
            position, inclusive = rows[-1][0], False

    def get_attachment(self, doc_id: str, name: str, *, rev: str | None = None) -> Attachment:
        doc = self.get(doc_id, rev=rev)
        meta = doc.get("_attachments", {}).get(name)
        if meta is None:
            raise NotFound(
                f"Document {doc_id[:80]!r} has no attachment {name[:80]!r}", doc_id=doc_id
            )
        with self._read() as conn:
            data = conn.execute(
                "SELECT data FROM attachments WHERE digest = ?", (meta["digest"],)
            ).fetchone()[0]
        return Attachment(data, meta["content_type"], meta["digest"])

    # -- writing -----------------------------------------------------------------------------

    def put(self, doc: Mapping, *, new_edits: bool = True) -> str:
        (result,) = self._save(self._check([doc], new_edits), new_edits)
        if isinstance(result, StoreError):
            raise result
        return result

    def bulk_docs(
        self, docs: Iterable[Mapping], *, new_edits: bool = True, plain_json: bool = False
    ) -> list[dict]:
        return self.prepare_bulk_docs(docs, new_edits=new_edits, plain_json=plain_json)()

    def prepare_bulk_docs(
        self, docs: Iterable[Mapping], *, new_edits: bool = True, plain_json: bool = False
    ) -> Callable[[], list[dict]]:
        docs = check_doc_list(docs)
        prepared = self._check(docs, new_edits, plain_json)

        def write() -> list[dict]:
            rows = []
            for doc, result in zip(docs, self._save(prepared, new_edits), strict=True):
                doc_id = doc.get("_id") if isinstance(doc, Mapping) else None
                if isinstance(result, StoreError):
                    rows.append({"id": doc_id, "error": result.error, "reason": result.reason})
                elif new_edits:
                    rows.append({"ok": True, "id": doc_id, "rev": result})
            return rows

        return write

    def _check(
        self, docs: list, new_edits: bool, plain_json: bool = False
    ) -> list[CheckedDocument | StoreError]:
        checked: list[CheckedDocument | StoreError] = []
        for doc in docs:
            try:
                checked.append(
                    check_document(
                        doc,
                        max_doc_bytes=self.max_doc_bytes,
                        max_attachment_bytes=self.max_attachment_bytes,
                        new_edits=new_edits,
                        plain_json=plain_json,
                    )
                )
            except StoreError as exc:
                checked.append(exc)
        return checked

    def _save(
        self, prepared: list[CheckedDocument | StoreError], new_edits: bool
    ) -> list[str | StoreError]:
        """Write the checked documents in one transaction; one result per document."""
        results: list[str | StoreError] = list(prepared)  # type: ignore[arg-type]
        with self._write() as conn:
            seq = revisions.Sequence(conn)
            if new_edits:
                for index, item in enumerate(prepared):
                    if isinstance(item, StoreError):
                        continue
                    try:
                        results[index] = revisions.save_new_edit(conn, item, self.revs_limit, seq)
                    except StoreError as exc:
                        exc.doc_id = item.doc_id
                        results[index] = exc
            else:
                # Replicated paths of one document are merged together, then stemmed once.
                by_id: dict[str, list[int]] = {}
                for index, item in enumerate(prepared):
                    if not isinstance(item, StoreError):
                        by_id.setdefault(item.doc_id, []).append(index)
                for indexes in by_id.values():
                    saved = revisions.save_replicated(
                        conn, [prepared[i] for i in indexes], self.revs_limit, seq
                    )
                    for index, result in zip(indexes, saved, strict=True):
                        results[index] = result
            seq.save()
        return results

    # -- _local documents ----------------------------------------------------------------------

    def get_local(self, local_id: str) -> dict:
        local_id = local_doc_id(local_id)
        row = (
            self._db.connection()
            .execute("SELECT rev, body FROM local_docs WHERE local_id = ?", (local_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound("missing", doc_id=f"_local/{local_id}")
        return {"_id": f"_local/{local_id}", "_rev": f"0-{row[0]}", **json.loads(row[1])}

    def put_local(self, doc: Mapping) -> str:
        if not isinstance(doc, Mapping):
            raise BadRequest("a _local document must be a JSON object")
        local_id = local_doc_id(doc.get("_id"))
        check_json_value(doc, f"_local/{local_id}")
        body = {k: v for k, v in doc.items() if not k.startswith("_")}
        with self._write() as conn:
            row = conn.execute(
                "SELECT rev FROM local_docs WHERE local_id = ?", (local_id,)
            ).fetchone()
            current = f"0-{row[0]}" if row else None
            if doc.get("_rev") != current:
                raise Conflict(
                    f"Document update conflict: _local/{local_id} is at "
                    f"{current or 'no revision'}, not {doc.get('_rev')}"
                )
            rev = (row[0] if row else 0) + 1
            conn.execute(
                "INSERT OR REPLACE INTO local_docs VALUES (?, ?, ?)",
                (local_id, rev, dump_json(body)),
            )
        return f"0-{rev}"

    def delete_local(self, local_id: str, rev: str) -> None:
        local_id = local_doc_id(local_id)
        with self._write() as conn:
            row = conn.execute(
                "SELECT rev FROM local_docs WHERE local_id = ?", (local_id,)
            ).fetchone()
            if row is None:
                raise NotFound("missing", doc_id=f"_local/{local_id}")
            if rev != f"0-{row[0]}":
                raise Conflict(f"Document update conflict: _local/{local_id} is at 0-{row[0]}")
            conn.execute("DELETE FROM local_docs WHERE local_id = ?", (local_id,))


def _bulk_get_error(doc_id: object, rev: object, exc: StoreError) -> dict:
    return {"error": {"id": doc_id, "rev": rev, "error": exc.error, "reason": exc.reason}}
