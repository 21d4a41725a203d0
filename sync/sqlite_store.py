"""`SqliteStore`: the embedded `Store`, one SQLite file per database.

Durability: WAL with ``synchronous=FULL`` so a call that returned survives a
crash or a battery cut; each call is one ``BEGIN IMMEDIATE`` transaction, so a
bulk save is all or nothing. Each thread gets its own connection; processes
share the file through SQLite's locking. Only leaf revisions keep a body
(CouchDB keeps no more after compaction); attachments are stored once per
digest and dropped when no revision refers to them.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from . import revtree
from .documents import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_DOC_BYTES,
    AttachmentStub,
    NewAttachment,
    check_doc_id,
    check_json_value,
    dump_json,
    split_document,
)
from .errors import BadRequest, Conflict, NotFound, PreconditionFailed, StoreError
from .selector import compile_selector
from .store import Attachment, ChangesFeed, Seq, Store

PAGE_ROWS = 500  # rows read per query while streaming a feed or a listing

# Each step runs once, in a transaction, and is recorded in schema_migrations.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE docs (
        doc_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        winner TEXT NOT NULL,
        deleted INTEGER NOT NULL,
        tree TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE revs (
        doc_id TEXT NOT NULL,
        rev TEXT NOT NULL,
        body TEXT NOT NULL,
        atts TEXT,
        PRIMARY KEY (doc_id, rev)
    ) WITHOUT ROWID;
    CREATE TABLE attachments (digest TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE att_refs (
        doc_id TEXT NOT NULL, rev TEXT NOT NULL, digest TEXT NOT NULL,
        PRIMARY KEY (doc_id, rev, digest)
    ) WITHOUT ROWID;
    CREATE INDEX att_refs_digest ON att_refs (digest);
    CREATE TABLE local_docs (local_id TEXT PRIMARY KEY, rev INTEGER NOT NULL,
                             body TEXT NOT NULL) WITHOUT ROWID;
    """,
]


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
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # -- connections and transactions ------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One snapshot for reads that touch several tables.
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, script in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('update_seq', '0')")
            conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('instance_start_time', ?)",
                (str(int(time.time() * 1_000_000)),),
            )
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('uuid', ?)", (uuid.uuid4().hex,))

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

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

    def _tree(self, conn: sqlite3.Connection, doc_id: str) -> revtree.RevTree | None:
        row = conn.execute("SELECT tree FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return revtree.tree_from_json(row[0]) if row else None

    def _build_doc(
        self,
        conn: sqlite3.Connection,
        doc_id: str,
        rev: str,
        tree: revtree.RevTree,
        *,
        revs: bool = False,
        attachments: bool = False,
        atts_since: list[str] | None = None,
    ) -> dict | None:
        """The stored revision as a CouchDB document, or None if it has no body."""
        row = conn.execute(
            "SELECT body, atts FROM revs WHERE doc_id = ? AND rev = ?", (doc_id, rev)
        ).fetchone()
        if row is None:
            return None
        doc = {"_id": doc_id, "_rev": rev, **json.loads(row[0])}
        if tree[rev].deleted:
            doc["_deleted"] = True
        if row[1]:
            doc["_attachments"] = self._attachment_members(
                conn, json.loads(row[1]), attachments, self._since_pos(tree, rev, atts_since)
            )
        if revs:
            doc["_revisions"] = revtree.revisions_of(revtree.ancestry(tree, rev))
        return doc

    @staticmethod
    def _since_pos(tree: revtree.RevTree, rev: str, atts_since: list[str] | None) -> int:
        """Attachments at or below this revpos are already held by the asker."""
        if not atts_since:
            return 0
        history = set(revtree.ancestry(tree, rev))
        known = [revtree.rev_pos(r) for r in atts_since if r in history]
        return max(known, default=0)

    @staticmethod
    def _attachment_members(
        conn: sqlite3.Connection, metas: dict, with_data: bool, since_pos: int
    ) -> dict:
        members = {}
        for name, meta in metas.items():
            member = dict(meta)
            if with_data and meta["revpos"] > since_pos:
                data = conn.execute(
                    "SELECT data FROM attachments WHERE digest = ?", (meta["digest"],)
                ).fetchone()[0]
                member["data"] = base64.b64encode(data).decode("ascii")
            else:
                member["stub"] = True
            members[name] = member
        return members

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
            tree = self._tree(conn, doc_id)
            if tree is None:
                raise NotFound("missing", doc_id=doc_id)
            if wanted is None:
                wanted = revtree.winning_rev(tree)
                if tree[wanted].deleted:
                    raise NotFound("deleted", doc_id=doc_id)
            if wanted not in tree:
                raise NotFound("missing", doc_id=doc_id)
            doc = self._build_doc(
                conn,
                doc_id,
                wanted,
                tree,
                revs=revs,
                attachments=attachments,
                atts_since=atts_since,
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
            tree = self._tree(conn, doc_id)
            if tree is None:
                return [] if revs == "all" else [{"missing": r} for r in revs]
            wanted = revtree.leaves(tree) if revs == "all" else revs
            results = []
            for rev in wanted:
                doc = None
                if rev in tree:
                    doc = self._build_doc(
                        conn,
                        doc_id,
                        rev,
                        tree,
                        revs=revs_history,
                        attachments=attachments,
                        atts_since=atts_since,
                    )
                results.append({"ok": doc} if doc is not None else {"missing": rev})
        return results

    def bulk_get(
        self, requests: Iterable[Mapping], *, revs: bool = True, attachments: bool = False
    ) -> list[dict]:
        results = []
        for request in requests:
            if not isinstance(request, Mapping):
                raise BadRequest("each _bulk_get request must be an object with an 'id'")
            doc_id, rev = request.get("id"), request.get("rev")
            try:
                check_doc_id(doc_id)
                if rev is None:
                    with self._read() as conn:
                        tree = self._tree(conn, doc_id)
                    wanted = [revtree.winning_rev(tree)] if tree else []
                else:
                    wanted = [rev]
                found = self.open_revs(
                    doc_id,
                    wanted,
                    revs_history=revs,
                    attachments=attachments,
                    atts_since=request.get("atts_since"),
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
        with self._read() as conn:
            for doc_id, doc_revs in revs.items():
                check_doc_id(doc_id)
                if not isinstance(doc_revs, list):
                    raise BadRequest(f"_revs_diff: revisions of {doc_id[:80]!r} must be a list")
                wanted = [revtree.normalize_rev(r) for r in doc_revs]
                tree = self._tree(conn, doc_id) or {}
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
        feed = ChangesFeed(iter(()), since_seq)
        feed._rows = self._change_rows(
            feed,
            since_seq,
            limit,
            style,
            include_docs or bool(matches),
            include_docs,
            conflicts,
            ids,
            matches,
        )
        return feed

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
        limit: int | None,
        style: str,
        load_docs: bool,
        include_docs: bool,
        conflicts: bool,
        ids: list[str] | None,
        matches,
    ) -> Iterator[dict]:
        sent = 0
        position = since
        while limit is None or sent < limit:
            with self._read() as conn:
                if ids is not None:
                    marks = ",".join("?" * len(ids))
                    rows = (
                        conn.execute(
                            f"SELECT doc_id, seq, winner, deleted, tree FROM docs WHERE seq > ? "
                            f"AND doc_id IN ({marks}) ORDER BY seq LIMIT ?",
                            (position, *ids, PAGE_ROWS),
                        ).fetchall()
                        if ids
                        else []
                    )
                else:
                    rows = conn.execute(
                        "SELECT doc_id, seq, winner, deleted, tree FROM docs WHERE seq > ? "
                        "ORDER BY seq LIMIT ?",
                        (position, PAGE_ROWS),
                    ).fetchall()
                page = []
                for doc_id, seq, winner, deleted, tree_json in rows:
                    tree = revtree.tree_from_json(tree_json)
                    doc = self._build_doc(conn, doc_id, winner, tree) if load_docs else None
                    page.append((doc_id, seq, winner, deleted, tree, doc))
            if not page:
                return
            for doc_id, seq, winner, deleted, tree, doc in page:
                position = seq
                feed.set_last_seq(seq)
                if matches is not None and (deleted or not matches(doc)):
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
                sent += 1
                if limit is not None and sent >= limit:
                    return
            if len(rows) < PAGE_ROWS:
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
        return self._all_docs_range(start_key, end_key, limit, include_docs)

    def _all_docs_by_keys(self, keys: list[str], include_docs: bool) -> Iterator[dict]:
        for key in keys:
            with self._read() as conn:
                tree = self._tree(conn, check_doc_id(key))
                if tree is None:
                    yield {"key": key, "error": "not_found"}
                    continue
                winner = revtree.winning_rev(tree)
                row: dict = {"id": key, "key": key, "value": {"rev": winner}}
                if tree[winner].deleted:
                    row["value"]["deleted"] = True
                if include_docs:
                    row["doc"] = (
                        None if tree[winner].deleted else self._build_doc(conn, key, winner, tree)
                    )
            yield row

    def _all_docs_range(
        self, start_key: str | None, end_key: str | None, limit: int | None, include_docs: bool
    ) -> Iterator[dict]:
        position, inclusive, sent = start_key or "", True, 0
        while limit is None or sent < limit:
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
                        self._build_doc(conn, doc_id, winner, revtree.tree_from_json(tree))
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
                sent += 1
                if limit is not None and sent >= limit:
                    return
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
        (result,) = self._save([doc], new_edits)
        if isinstance(result, StoreError):
            raise result
        return result

    def bulk_docs(self, docs: Iterable[Mapping], *, new_edits: bool = True) -> list[dict]:
        if isinstance(docs, Mapping | str | bytes) or not isinstance(docs, Iterable):
            raise BadRequest("bulk_docs needs a list of documents")
        docs = list(docs)
        rows = []
        for doc, result in zip(docs, self._save(docs, new_edits), strict=True):
            doc_id = doc.get("_id") if isinstance(doc, Mapping) else None
            if isinstance(result, StoreError):
                rows.append({"id": doc_id, "error": result.error, "reason": result.reason})
            elif new_edits:
                rows.append({"ok": True, "id": doc_id, "rev": result})
        return rows

    def _save(self, docs: list, new_edits: bool) -> list[str | StoreError]:
        """Check every document, then write the valid ones in one transaction."""
        prepared: list[tuple | StoreError] = []
        for doc in docs:
            try:
                prepared.append(
                    split_document(
                        doc,
                        max_doc_bytes=self.max_doc_bytes,
                        max_attachment_bytes=self.max_attachment_bytes,
                    )
                )
            except StoreError as exc:
                prepared.append(exc)
        results: list[str | StoreError] = []
        with self._write() as conn:
            for item in prepared:
                if isinstance(item, StoreError):
                    results.append(item)
                    continue
                try:
                    save = self._save_new_edit if new_edits else self._save_replicated
                    results.append(save(conn, *item))
                except StoreError as exc:
                    exc.doc_id = item[0]
                    results.append(exc)
        return results

    def _save_new_edit(
        self, conn: sqlite3.Connection, doc_id: str, special: dict, body_json: str, atts: dict
    ) -> str:
        tree = self._tree(conn, doc_id) or {}
        deleted = special.get("_deleted", False)
        if "_rev" in special:
            parent = revtree.normalize_rev(special["_rev"])
            if parent not in tree:
                raise Conflict(
                    f"Document update conflict: {doc_id[:80]!r} has no revision {parent}"
                )
        elif tree and not revtree.is_deleted(tree):
            raise Conflict(
                f"Document update conflict: {doc_id[:80]!r} exists; "
                "give its current _rev to change it"
            )
        else:
            parent = revtree.winning_rev(tree) if tree else None  # recreate on the tombstone
        metas = self._resolve_attachments(
            conn,
            doc_id,
            parent,
            atts,
            new_edits=True,
            pos=revtree.rev_pos(parent) + 1 if parent else 1,
        )
        rev = revtree.new_rev(
            parent, deleted, json.loads(body_json), sorted(m["digest"] for m in metas.values())
        )
        if rev in tree:
            return rev  # the same edit again (a retry): already saved, nothing to do
        if parent is not None and parent not in revtree.leaves(tree):
            raise Conflict(
                f"Document update conflict: {parent} is not a current revision of {doc_id[:80]!r}"
            )
        path = [rev, parent] if parent else [rev]
        self._store_revision(conn, doc_id, tree, path, deleted, body_json, metas)
        return rev

    def _save_replicated(
        self, conn: sqlite3.Connection, doc_id: str, special: dict, body_json: str, atts: dict
    ) -> str:
        if "_rev" not in special:
            raise BadRequest(f"{doc_id[:80]!r}: replicated documents need a _rev")
        rev = revtree.normalize_rev(special["_rev"])
        path = (
            revtree.path_from_revisions(special["_revisions"]) if "_revisions" in special else [rev]
        )
        if path[0] != rev:
            raise BadRequest(f"{doc_id[:80]!r}: _revisions does not end at _rev {rev}")
        tree = self._tree(conn, doc_id) or {}
        if rev in tree:
            return rev  # already held: replication is idempotent
        metas = self._resolve_attachments(
            conn, doc_id, None, atts, new_edits=False, pos=revtree.rev_pos(rev)
        )
        self._store_revision(
            conn, doc_id, tree, path, special.get("_deleted", False), body_json, metas
        )
        return rev

    def _resolve_attachments(
        self,
        conn: sqlite3.Connection,
        doc_id: str,
        parent: str | None,
        atts: dict,
        *,
        new_edits: bool,
        pos: int,
    ) -> dict:
        """Attachment metadata for a new revision; new data is written by digest."""
        parent_metas = {}
        if parent is not None:
            row = conn.execute(
                "SELECT atts FROM revs WHERE doc_id = ? AND rev = ?", (doc_id, parent)
            ).fetchone()
            parent_metas = json.loads(row[0]) if row and row[0] else {}
        metas = {}
        for name, att in atts.items():
            if isinstance(att, NewAttachment):
                conn.execute(
                    "INSERT OR IGNORE INTO attachments VALUES (?, ?)", (att.digest, att.data)
                )
                metas[name] = {
                    "content_type": att.content_type,
                    "digest": att.digest,
                    "length": len(att.data),
                    "revpos": pos,
                }
            else:
                metas[name] = self._stub_meta(conn, doc_id, name, att, parent_metas, new_edits)
        return metas

    @staticmethod
    def _stub_meta(
        conn: sqlite3.Connection,
        doc_id: str,
        name: str,
        stub: AttachmentStub,
        parent_metas: dict,
        new_edits: bool,
    ) -> dict:
        known = parent_metas.get(name)
        if new_edits:
            if known is None or (stub.digest and stub.digest != known["digest"]):
                raise PreconditionFailed(
                    f"Invalid attachment stub in {doc_id[:80]!r} for "
                    f"{name[:80]!r}: the parent revision has no such "
                    "attachment"
                )
            return known
        # Replicated stub: the data must already be held for this same document, so a
        # stub cannot borrow another document's attachment by guessing its digest.
        held = (
            stub.digest
            and conn.execute(
                "SELECT revs.atts FROM att_refs JOIN revs USING (doc_id, rev) "
                "WHERE att_refs.doc_id = ? AND att_refs.digest = ? LIMIT 1",
                (doc_id, stub.digest),
            ).fetchone()
        )
        if not held:
            raise PreconditionFailed(
                f"Invalid attachment stub in {doc_id[:80]!r} for {name[:80]!r}: missing_stub"
            )
        source = next(m for m in json.loads(held[0]).values() if m["digest"] == stub.digest)
        return {**source, "revpos": stub.revpos or source["revpos"]}

    def _store_revision(
        self,
        conn: sqlite3.Connection,
        doc_id: str,
        tree: revtree.RevTree,
        path: list[str],
        deleted: bool,
        body_json: str,
        metas: dict,
    ) -> None:
        old_leaves = set(revtree.leaves(tree)) if tree else set()
        merged = revtree.stem(revtree.merge_path(tree, path, deleted), self.revs_limit)
        new_leaves = set(revtree.leaves(merged))
        rev = path[0]
        conn.execute(
            "INSERT OR REPLACE INTO revs VALUES (?, ?, ?, ?)",
            (doc_id, rev, body_json, dump_json(metas) if metas else None),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO att_refs VALUES (?, ?, ?)",
            [(doc_id, rev, m["digest"]) for m in metas.values()],
        )
        for gone in old_leaves - new_leaves:
            self._drop_body(conn, doc_id, gone)
        (seq,) = conn.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'update_seq' "
            "RETURNING CAST(value AS INTEGER)"
        ).fetchone()
        winner = revtree.winning_rev(merged)
        conn.execute(
            "INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?)",
            (doc_id, seq, winner, int(merged[winner].deleted), revtree.tree_to_json(merged)),
        )

    @staticmethod
    def _drop_body(conn: sqlite3.Connection, doc_id: str, rev: str) -> None:
        """A revision stopped being a leaf: forget its body and unused attachments."""
        conn.execute("DELETE FROM revs WHERE doc_id = ? AND rev = ?", (doc_id, rev))
        digests = [
            d
            for (d,) in conn.execute(
                "DELETE FROM att_refs WHERE doc_id = ? AND rev = ? RETURNING digest", (doc_id, rev)
            )
        ]
        for digest in digests:
            conn.execute(
                "DELETE FROM attachments WHERE digest = ? AND NOT EXISTS "
                "(SELECT 1 FROM att_refs WHERE digest = ?)",
                (digest, digest),
            )

    # -- _local documents ----------------------------------------------------------------------

    @staticmethod
    def _local_id(local_id: object) -> str:
        if isinstance(local_id, str) and local_id.startswith("_local/"):
            local_id = local_id[len("_local/") :]
        return check_doc_id(local_id, what="local document id")

    def get_local(self, local_id: str) -> dict:
        local_id = self._local_id(local_id)
        row = (
            self._conn()
            .execute("SELECT rev, body FROM local_docs WHERE local_id = ?", (local_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound("missing", doc_id=f"_local/{local_id}")
        return {"_id": f"_local/{local_id}", "_rev": f"0-{row[0]}", **json.loads(row[1])}

    def put_local(self, doc: Mapping) -> str:
        if not isinstance(doc, Mapping):
            raise BadRequest("a _local document must be a JSON object")
        local_id = self._local_id(doc.get("_id"))
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
        local_id = self._local_id(local_id)
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
