"""`SqliteStore`: the embedded `Store`, one SQLite file per database.

Durability: WAL with ``synchronous=FULL`` so a call that returned survives a
crash or a battery cut; each call is one ``BEGIN IMMEDIATE`` transaction, so a
bulk save is all or nothing. Each thread gets its own connection; processes
share the file through SQLite's locking. Only leaf revisions keep a body
(CouchDB keeps no more after compaction); attachments are stored once per
digest and dropped when no revision refers to them.

It implements the `Store` primitives only: `Store`'s public methods have checked
and normalized every argument before these run.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping

from . import revtree
from . import sqlite_revisions as revisions
from .documents import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_DOC_BYTES,
    CheckedDocument,
    dump_json,
)
from .errors import BadRequest, Conflict, NotFound, StoreError
from .sqlite_changes import PAGE_ROWS, pages_for
from .sqlite_database import SqliteDatabase
from .store import Attachment, ChangesFeed, Seq, Store, bulk_get_error, missing_from_bulk_get


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

    def _info(self) -> dict:
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
        wanted = rev
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

    def _open_revs(
        self,
        doc_id: str,
        revs: list[str] | str,
        *,
        revs_history: bool,
        attachments: bool,
        atts_since: list[str] | None,
    ) -> list[dict]:
        with self._read() as conn:
            return self._leaves_or_revs(conn, doc_id, revs, revs_history, attachments, atts_since)

    def _leaves_or_revs(
        self,
        conn: sqlite3.Connection,
        doc_id: str,
        revs: list[str | None] | str,
        revs_history: bool,
        attachments: bool,
        atts_since: list[str] | None,
    ) -> list[dict]:
        """`open_revs` inside a read transaction the caller holds; for `bulk_get`,
        ``None`` in the list means the winner."""
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

    def _bulk_get(self, requests: list[dict], *, revs: bool, attachments: bool) -> list[dict]:
        results = []
        with self._read() as conn:  # one snapshot, one transaction for the whole batch
            for request in requests:
                doc_id, rev = request["id"], request["rev"]
                try:
                    found = self._leaves_or_revs(
                        conn, doc_id, [rev], revs, attachments, request["atts_since"]
                    )
                except StoreError as exc:
                    results.append(bulk_get_error(doc_id, rev, exc))
                    continue
                docs = [
                    {"ok": item["ok"]} if "ok" in item else missing_from_bulk_get(doc_id, rev)
                    for item in found
                ] or [missing_from_bulk_get(doc_id, None)]
                results.append({"id": doc_id, "docs": docs})
        return results

    def _revs_diff(self, revs: dict[str, list[str]]) -> dict[str, dict]:
        answer = {}
        with self._read() as conn:
            trees = revisions.load_trees(conn, list(revs))
            for doc_id, wanted in revs.items():
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
        since_seq = self._parse_seq(since)
        load_docs = include_docs or matches is not None
        return ChangesFeed(
            since_seq,
            lambda feed: self._change_rows(
                feed, since_seq, style, load_docs, include_docs, conflicts, doc_ids, matches
            ),
            limit,
        )

    @staticmethod
    def _parse_seq(since: Seq) -> int:
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

    def _all_docs(
        self,
        *,
        keys: list[str] | None,
        start_key: str | None,
        end_key: str | None,
        limit: int | None,
        include_docs: bool,
    ) -> Iterator[dict]:
        if keys is not None:
            return self._all_docs_by_keys(keys, include_docs)
        rows = self._all_docs_range(start_key, end_key, include_docs)
        return rows if limit is None else itertools.islice(rows, limit)

    def _all_docs_by_keys(self, keys: list[str], include_docs: bool) -> Iterator[dict]:
        for key in keys:
            yield self._all_docs_row(key, include_docs)

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

    def _get_attachment(self, doc_id: str, name: str, rev: str | None) -> Attachment:
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

    def _prepare_bulk_docs(
        self, docs: list[CheckedDocument], new_edits: bool
    ) -> Callable[[], list[str | StoreError]]:
        return lambda: self._save(docs, new_edits)

    def _save(self, prepared: list[CheckedDocument], new_edits: bool) -> list[str | StoreError]:
        """Write the checked documents in one transaction; one result per document."""
        results: list[str | StoreError] = list(prepared)  # type: ignore[arg-type]
        with self._write() as conn:
            seq = revisions.Sequence(conn)
            if new_edits:
                for index, item in enumerate(prepared):
                    try:
                        results[index] = revisions.save_new_edit(conn, item, self.revs_limit, seq)
                    except StoreError as exc:
                        exc.doc_id = item.doc_id
                        results[index] = exc
            else:
                # Replicated paths of one document are merged together, then stemmed once.
                by_id: dict[str, list[int]] = {}
                for index, item in enumerate(prepared):
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

    def _get_local(self, local_id: str) -> dict:
        row = (
            self._db.connection()
            .execute("SELECT rev, body FROM local_docs WHERE local_id = ?", (local_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound("missing", doc_id=f"_local/{local_id}")
        return {"_id": f"_local/{local_id}", "_rev": f"0-{row[0]}", **json.loads(row[1])}

    def _put_local(self, local_id: str, rev: str | None, body: dict) -> str:
        with self._write() as conn:
            row = conn.execute(
                "SELECT rev FROM local_docs WHERE local_id = ?", (local_id,)
            ).fetchone()
            current = f"0-{row[0]}" if row else None
            if rev != current:
                raise Conflict(
                    f"Document update conflict: _local/{local_id} is at "
                    f"{current or 'no revision'}, not {rev}"
                )
            written = (row[0] if row else 0) + 1
            conn.execute(
                "INSERT OR REPLACE INTO local_docs VALUES (?, ?, ?)",
                (local_id, written, dump_json(body)),
            )
        return f"0-{written}"

    def _delete_local(self, local_id: str, rev: object) -> None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT rev FROM local_docs WHERE local_id = ?", (local_id,)
            ).fetchone()
            if row is None:
                raise NotFound("missing", doc_id=f"_local/{local_id}")
            if rev != f"0-{row[0]}":
                raise Conflict(f"Document update conflict: _local/{local_id} is at 0-{row[0]}")
            conn.execute("DELETE FROM local_docs WHERE local_id = ?", (local_id,))
