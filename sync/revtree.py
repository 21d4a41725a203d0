"""Revision trees as pure functions.

A document's history is a tree of revisions ``N-hash``: ``N`` is the depth,
``hash`` names the content. We keep the tree flat, ``{rev: RevNode(parent,
deleted)}``, which makes merging a plain union (so, until something is stemmed,
the result never depends on the order paths arrive in) while giving the same
leaves, winner and conflicts as CouchDB's ``couch_key_tree`` and PouchDB's
``pouchdb-merge``.

Stemming (`stem`) behaves as CouchDB's: a revision stemmed off and sent again on
its own (a path that does not reach a kept revision) stands apart, a root of its
own, so it can be a leaf: a conflict, or even the winner when the other leaf is a
tombstone. The oldest kept node still remembers its dropped parent's id (``parent``
names a revision the tree does not hold), for two things only: a path giving it
another parent is refused (history is never rewritten), and a path holding both it
and that parent joins them again. When the parent comes back without it, it forgets
it. Re-attaching instead would make a tablet and CouchDB disagree on the winner,
and two stores with different `revs_limit` re-send the same revision to each other
forever (docs/replication.md, "Stemming").
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import orjson

from .errors import BadRequest

DEFAULT_REVS_LIMIT = 1000

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
# Revision hashes other than 32 hex digits are opaque to CouchDB; we accept a
# conservative alphabet so they are safe in URLs, logs and SQL alike.
_OPAQUE_HASH = re.compile(r"[0-9A-Za-z_-]{1,64}")


class RevNode(NamedTuple):
    parent: str | None  # None only for a root that was never stemmed
    deleted: bool


RevTree = dict[str, RevNode]


def parse_rev(rev: object) -> tuple[int, str]:
    """Split ``"3-abc"`` into ``(3, "abc")``; raise BadRequest naming the fault."""
    if not isinstance(rev, str):
        raise BadRequest(f"Invalid rev format: expected a string like '1-abc', got {rev!r}")
    pos_text, sep, rev_hash = rev.partition("-")
    if not sep or not pos_text.isdigit() or pos_text.startswith("0") or len(pos_text) > 9:
        raise BadRequest(f"Invalid rev format: {rev[:80]!r}")
    if len(rev_hash) == 32:
        # CouchDB stores 32-char ids as 16 bytes and prints them lowercase;
        # anything else there would be a phantom conflict after one round trip.
        if not _HEX32.fullmatch(rev_hash):
            raise BadRequest(f"Invalid rev format: 32-character rev id is not hex: {rev[:80]!r}")
        rev_hash = rev_hash.lower()
    elif not _OPAQUE_HASH.fullmatch(rev_hash):
        raise BadRequest(f"Invalid rev format: {rev[:80]!r}")
    return int(pos_text), rev_hash


def normalize_rev(rev: object) -> str:
    if type(rev) is str:
        return _normalized(rev)
    pos, rev_hash = parse_rev(rev)  # raises BadRequest: not a string
    return f"{pos}-{rev_hash}"


@functools.lru_cache(maxsize=16_384)
def _normalized(rev: str) -> str:
    """One replication normalizes each revision several times (revs_diff, the checks of
    both stores): a few batches' worth are remembered. Refusals are not cached."""
    pos, rev_hash = parse_rev(rev)
    return f"{pos}-{rev_hash}"


def rev_pos(rev: str) -> int:
    return int(rev.partition("-")[0])


def path_from_revisions(revisions: object) -> list[str]:
    """Turn a ``_revisions`` member (``{"start": N, "ids": [...]}``) into revs, leaf first."""
    if not isinstance(revisions, Mapping):
        raise BadRequest("_revisions must be an object with 'start' and 'ids'")
    start, ids = revisions.get("start"), revisions.get("ids")
    if not isinstance(start, int) or isinstance(start, bool) or start < 1:
        raise BadRequest("_revisions.start must be a positive integer")
    if not isinstance(ids, list) or not ids or len(ids) > start:
        raise BadRequest("_revisions.ids must be a non-empty list no longer than start")
    return [normalize_rev(f"{start - i}-{rev_id}") for i, rev_id in enumerate(ids)]


def revisions_of(path: list[str]) -> dict:
    """The ``_revisions`` member for a leaf-first path."""
    return {"start": rev_pos(path[0]), "ids": [rev.partition("-")[2] for rev in path]}


def merge_path(tree: Mapping[str, RevNode], path: list[str], deleted: bool) -> RevTree:
    """Return a new tree with ``path`` (leaf first, consecutive depths) merged in.

    ``deleted`` is the leaf's tombstone flag. Raises BadRequest when the path
    contradicts the tree (a known revision with another parent): history is
    never rewritten.
    """
    if not path:
        raise BadRequest("empty revision path")
    for child, parent in zip(path, path[1:], strict=False):
        if rev_pos(child) != rev_pos(parent) + 1:
            raise BadRequest(f"revision path is not consecutive at {child}")
    merged = dict(tree)
    returned = []  # revisions new to the tree
    for index, rev in enumerate(path):
        parent = path[index + 1] if index + 1 < len(path) else None
        is_deleted = deleted and index == 0
        known = merged.get(rev)
        if known is None:
            merged[rev] = RevNode(parent, is_deleted)
            returned.append(rev)
            continue
        if parent is not None and known.parent is not None and known.parent != parent:
            raise BadRequest(
                f"revision {rev} already has parent {known.parent}, not {parent}: "
                "history cannot be rewritten"
            )
        # Union of what both paths know: commutative, so order never matters.
        merged[rev] = RevNode(known.parent or parent, known.deleted or is_deleted)
    if returned and tree:
        _forget_parents_back_alone(tree, merged, path, set(returned))
    return merged


def _forget_parents_back_alone(
    tree: Mapping[str, RevNode], merged: RevTree, path: list[str], returned: set[str]
) -> None:
    """A stemmed-off revision that `path` brings back, without the kept child that
    remembers it, stands apart (couch_key_tree makes it a root of its own): the child
    forgets it, so the link never comes back by itself."""
    joined = set(zip(path, path[1:], strict=False))  # (child, parent) pairs the path states
    for rev, node in tree.items():
        if node.parent in returned and (rev, node.parent) not in joined:
            merged[rev] = merged[rev]._replace(parent=None)


def leaves(tree: Mapping[str, RevNode]) -> list[str]:
    """Revisions nobody descends from, in winning order (best first)."""
    parents = {node.parent for node in tree.values()}
    found = [rev for rev in tree if rev not in parents]
    if len(found) > 1:  # most documents have one leaf: nothing to order
        found.sort(key=lambda rev: _winning_key(tree, rev), reverse=True)
    return found


def _winning_key(tree: Mapping[str, RevNode], rev: str) -> tuple[bool, int, str]:
    pos, _, rev_hash = rev.partition("-")
    return (not tree[rev].deleted, int(pos), rev_hash)


def winning_rev(tree: Mapping[str, RevNode]) -> str:
    """CouchDB's deterministic winner: live beats deleted, then depth, then rev id."""
    return leaves(tree)[0]


def is_deleted(tree: Mapping[str, RevNode]) -> bool:
    return tree[winning_rev(tree)].deleted


def conflicts(tree: Mapping[str, RevNode]) -> list[str]:
    """Live leaves that lost to the winner (the ``_conflicts`` member)."""
    winner = winning_rev(tree)
    return [rev for rev in leaves(tree) if rev != winner and not tree[rev].deleted]


def deleted_conflicts(tree: Mapping[str, RevNode]) -> list[str]:
    """Deleted leaves other than the winner (the ``_deleted_conflicts`` member)."""
    winner = winning_rev(tree)
    return [rev for rev in leaves(tree) if rev != winner and tree[rev].deleted]


def ancestry(tree: Mapping[str, RevNode], rev: str, limit: int | None = None) -> list[str]:
    """The path from ``rev`` up to the oldest revision still held, leaf first."""
    path = [rev]
    node = tree[rev]
    while node.parent is not None and node.parent in tree:
        if limit is not None and len(path) >= limit:
            break
        path.append(node.parent)
        node = tree[node.parent]
    return path


def held_since_pos(history: Iterable[str], atts_since: Iterable[str]) -> int:
    """For ``atts_since``: the depth of the newest revision the asker holds that is in
    this revision's `history`. Attachments with ``revpos`` at or below it need no data."""
    known = set(history)
    return max((rev_pos(rev) for rev in atts_since if rev in known), default=0)


def stem(tree: Mapping[str, RevNode], limit: int = DEFAULT_REVS_LIMIT) -> RevTree:
    """Keep only the ``limit`` newest revisions on every branch (CouchDB's revs_limit).

    Leaves are never dropped, so stemming never changes the winner or conflicts. The
    oldest kept node of a branch keeps its dropped parent's id (see the module's
    docstring for what it is used for).
    """
    if len(tree) <= limit:  # no branch can be longer than the whole tree
        return dict(tree)
    keep: set[str] = set()
    for leaf in leaves(tree):
        keep.update(ancestry(tree, leaf, limit))
    return {rev: node for rev, node in tree.items() if rev in keep}


def missing_revs(tree: Mapping[str, RevNode], revs: Iterable[str]) -> list[str]:
    """The revisions in ``revs`` this tree has never seen (for ``_revs_diff``)."""
    return [rev for rev in revs if rev not in tree]


def canonical_json(value: object) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def new_rev(
    parent: str | None, deleted: bool, body: Mapping, attachment_digests: Iterable[str]
) -> str:
    """The id of the revision an edit creates.

    Deterministic: the same edit of the same parent always gets the same id, so
    a retried save (its answer lost on a dropped link) cannot fork a conflict.
    """
    content = {key: value for key, value in body.items() if not key.startswith("_")}
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(canonical_json([parent, deleted, content, sorted(attachment_digests)]))
    pos = rev_pos(parent) + 1 if parent else 1
    return f"{pos}-{digest.hexdigest()}"


def tree_to_json(tree: Mapping[str, RevNode]) -> str:
    """Compact storage form: ``{rev: [parent, deleted]}``."""
    return orjson.dumps({rev: [node.parent, node.deleted] for rev, node in tree.items()}).decode()


def tree_from_json(text: str) -> RevTree:
    return {
        rev: RevNode(parent, bool(deleted)) for rev, (parent, deleted) in orjson.loads(text).items()
    }
