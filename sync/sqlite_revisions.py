"""How `SqliteStore` keeps documents: revision trees, leaf bodies, attachments.

Functions here work inside a transaction the caller holds on one connection,
so a bulk save of many documents commits or rolls back as one. Only leaf
revisions keep a body (as CouchDB after compaction); attachment data is
stored once per digest and dropped when no revision refers to it.
"""

from __future__ import annotations

import base64
import json
import sqlite3

from . import revtree
from .documents import AttachmentStub, CheckedDocument, NewAttachment, dump_json, load_json
from .errors import Conflict, PreconditionFailed, StoreError
from .sqlite_database import rows_in


def load_tree(conn: sqlite3.Connection, doc_id: str) -> revtree.RevTree | None:
    row = conn.execute("SELECT tree FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
    return revtree.tree_from_json(row[0]) if row else None


def load_trees(conn: sqlite3.Connection, doc_ids: list[str]) -> dict[str, revtree.RevTree]:
    """`load_tree` for many documents (absent ones are left out)."""
    query = "SELECT doc_id, tree FROM docs WHERE doc_id IN"
    return {doc_id: revtree.tree_from_json(tree) for doc_id, tree in rows_in(conn, query, doc_ids)}


def build_doc(
    conn: sqlite3.Connection,
    doc_id: str,
    rev: str,
    tree: revtree.RevTree,
    *,
    revs: bool = False,
    attachments: bool = False,
    atts_since: list[str] | None = None,
    revs_limit: int | None = None,
) -> dict | None:
    """The stored revision as a CouchDB document, or None if it has no body. `_revisions`
    holds at most `revs_limit` ids (CouchDB's make_doc cuts it so too: a branch may hold
    more, through an ancestor kept for a sibling branch)."""
    row = conn.execute(
        "SELECT body, atts FROM revs WHERE doc_id = ? AND rev = ?", (doc_id, rev)
    ).fetchone()
    if row is None:
        return None
    doc = {"_id": doc_id, "_rev": rev, **load_json(row[0].encode())}
    if tree[rev].deleted:
        doc["_deleted"] = True
    if row[1]:
        doc["_attachments"] = attachment_members(
            conn, json.loads(row[1]), attachments, since_pos(tree, rev, atts_since)
        )
    if revs:
        doc["_revisions"] = revtree.revisions_of(revtree.ancestry(tree, rev, revs_limit))
    return doc


def since_pos(tree: revtree.RevTree, rev: str, atts_since: list[str] | None) -> int:
    """Attachments at or below this revpos are already held by the asker."""
    if not atts_since:
        return 0
    return revtree.held_since_pos(revtree.ancestry(tree, rev), atts_since)


def attachment_members(
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


class Sequence:
    """Hands out `update_seq` values inside one write transaction and writes the last
    one back once, instead of one UPDATE per document."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        (self.first,) = conn.execute(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'update_seq'"
        ).fetchone()
        self.last = self.first

    def next(self) -> int:
        self.last += 1
        return self.last

    def save(self) -> None:
        if self.last != self.first:
            self.conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'update_seq'", (str(self.last),)
            )


def save_new_edit(
    conn: sqlite3.Connection, doc: CheckedDocument, revs_limit: int, seq: Sequence
) -> str:
    doc_id, special, body_json, atts = doc.doc_id, doc.special, doc.body_json, doc.attachments
    tree = load_tree(conn, doc_id) or {}
    deleted = special.get("_deleted", False)
    if "_rev" in special:
        parent = special["_rev"]
        if parent not in tree:
            raise Conflict(f"Document update conflict: {doc_id[:80]!r} has no revision {parent}")
    else:  # a create, or a recreate that extends the tombstone
        parent = revtree.winning_rev(tree) if tree and revtree.is_deleted(tree) else None
    pos = revtree.rev_pos(parent) + 1 if parent else 1
    metas = resolve_attachments(conn, doc_id, parent, atts, new_edits=True, pos=pos)
    digests = sorted(m["digest"] for m in metas.values())
    rev = revtree.new_rev(parent, deleted, doc.body, digests)
    if rev in tree:
        return rev  # the same edit again (a retry): already saved, nothing to do
    if parent is None and tree:
        raise Conflict(
            f"Document update conflict: {doc_id[:80]!r} exists; give its current _rev to change it"
        )
    if parent is not None and parent not in revtree.leaves(tree):
        raise Conflict(
            f"Document update conflict: {parent} is not a current revision of {doc_id[:80]!r}"
        )
    path = [rev, parent] if parent else [rev]
    merged = revtree.stem(revtree.merge_path(tree, path, deleted), revs_limit)
    store_revision(conn, doc_id, tree, merged, rev, body_json, metas, seq, _new_data(atts))
    return rev


def save_replicated(
    conn: sqlite3.Connection, docs: list[CheckedDocument], revs_limit: int, seq: Sequence
) -> list[str | StoreError]:
    """Save what one batch replicates of one document: `docs`, all of one id, in order.

    Every path is merged, then the tree is stemmed once, as CouchDB's couch_db_updater
    does: stemming between two paths of a batch would leave a revision the batch also
    sends standing apart, as a conflict CouchDB never shows. One result per document, its
    rev or the error refusing it (the others still land); an already known revision is
    a no-op, and a batch that changes nothing writes nothing.
    """
    doc_id = docs[0].doc_id
    stored = load_tree(conn, doc_id) or {}
    tree = stored
    results: list[str | StoreError] = []
    for doc in docs:
        rev, path = doc.special["_rev"], doc.path or [doc.special["_rev"]]
        known = rev in tree
        # A known revision is merged too (as CouchDB does): its path may teach ancestry the
        # tree lacks, which joins a branch instead of leaving a phantom conflict. Its body
        # and tombstone flag stay as first stored.
        deleted = tree[rev].deleted if known else doc.special.get("_deleted", False)
        try:
            merged = revtree.merge_path(tree, path, deleted)
            if not known:
                metas = resolve_attachments(
                    conn, doc_id, None, doc.attachments, new_edits=False, pos=revtree.rev_pos(rev)
                )
                write_body(conn, doc_id, rev, doc.body_json, metas, _new_data(doc.attachments))
        except StoreError as exc:
            exc.doc_id = doc_id
            results.append(exc)
            continue
        drop_former_leaves(conn, doc_id, tree, merged)
        tree = merged
        results.append(rev)
    stemmed = revtree.stem(tree, revs_limit)
    if stemmed != stored:
        drop_former_leaves(conn, doc_id, tree, stemmed)  # none: stemming keeps every leaf
        write_tree(conn, doc_id, stemmed, seq)
    return results


def _new_data(atts: dict) -> dict[str, bytes]:
    return {att.digest: att.data for att in atts.values() if isinstance(att, NewAttachment)}


def resolve_attachments(
    conn: sqlite3.Connection,
    doc_id: str,
    parent: str | None,
    atts: dict,
    *,
    new_edits: bool,
    pos: int,
) -> dict:
    """Attachment metadata for a new revision (checked, nothing written yet: a refused
    edit must leave no orphan data behind)."""
    parent_metas = {}
    if parent is not None:
        row = conn.execute(
            "SELECT atts FROM revs WHERE doc_id = ? AND rev = ?", (doc_id, parent)
        ).fetchone()
        parent_metas = json.loads(row[0]) if row and row[0] else {}
    metas = {}
    for name, att in atts.items():
        if isinstance(att, NewAttachment):  # its data is written with the revision
            metas[name] = {
                "content_type": att.content_type,
                "digest": att.digest,
                "length": len(att.data),
                "revpos": pos,
            }
        else:
            metas[name] = stub_meta(conn, doc_id, name, att, parent_metas, new_edits)
    return metas


def stub_meta(
    conn: sqlite3.Connection,
    doc_id: str,
    name: str,
    stub: AttachmentStub,
    parent_metas: dict,
    new_edits: bool,
) -> dict:
    known = parent_metas.get(name)
    if known is not None and stub.digest in (None, known["digest"]):
        return known
    # Otherwise the data must already be held for this same document (the parent of a
    # retried edit may be compacted), so a stub cannot borrow another document's
    # attachment by guessing its digest.
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
            f"Invalid attachment stub in {doc_id[:80]!r} for {name[:80]!r}: "
            "no revision of this document holds that attachment (missing_stub)"
        )
    source = next(m for m in json.loads(held[0]).values() if m["digest"] == stub.digest)
    if new_edits:
        return source
    return {**source, "revpos": stub.revpos or source["revpos"]}


def store_revision(
    conn: sqlite3.Connection,
    doc_id: str,
    tree: revtree.RevTree,
    merged: revtree.RevTree,
    rev: str,
    body_json: str,
    metas: dict,
    seq: Sequence,
    new_data: dict[str, bytes],
) -> None:
    """Write the merged tree of a document after an edit, the body of `rev` (with its
    new attachment data, by digest), and give the document the next sequence."""
    write_body(conn, doc_id, rev, body_json, metas, new_data)
    drop_former_leaves(conn, doc_id, tree, merged)
    write_tree(conn, doc_id, merged, seq)


def write_body(
    conn: sqlite3.Connection,
    doc_id: str,
    rev: str,
    body_json: str,
    metas: dict,
    new_data: dict[str, bytes],
) -> None:
    """Keep the body of a new leaf `rev`, with its attachments' metadata and new data."""
    if new_data:  # (most documents have no attachments: no statement for them)
        conn.executemany("INSERT OR IGNORE INTO attachments VALUES (?, ?)", new_data.items())
    conn.execute(
        "INSERT OR REPLACE INTO revs VALUES (?, ?, ?, ?)",
        (doc_id, rev, body_json, dump_json(metas) if metas else None),
    )
    if metas:
        conn.executemany(
            "INSERT OR IGNORE INTO att_refs VALUES (?, ?, ?)",
            [(doc_id, rev, m["digest"]) for m in metas.values()],
        )


def drop_former_leaves(
    conn: sqlite3.Connection, doc_id: str, tree: revtree.RevTree, merged: revtree.RevTree
) -> None:
    """Forget the bodies of the revisions of `tree` that are no longer leaves in `merged`
    (written after the new bodies, so shared attachment data is never dropped)."""
    if not tree:
        return
    for gone in set(revtree.leaves(tree)) - set(revtree.leaves(merged)):
        drop_body(conn, doc_id, gone)


def write_tree(conn: sqlite3.Connection, doc_id: str, tree: revtree.RevTree, seq: Sequence) -> None:
    """Store the document's tree and winner at the next sequence."""
    winner = revtree.winning_rev(tree)
    conn.execute(
        "INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?)",
        (doc_id, seq.next(), winner, int(tree[winner].deleted), revtree.tree_to_json(tree)),
    )


def drop_body(conn: sqlite3.Connection, doc_id: str, rev: str) -> None:
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
