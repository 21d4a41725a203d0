"""The conflict resolution driver: applies per-type resolvers to conflicted documents.

For each document with live conflicts, the resolver for its type (a pure
function that `schemas/` provides) gets the winning body and the losing
bodies, and returns the merged body or None ("leave for a person"). The merge
is written as a child of the winner, and every losing leaf gets a tombstone,
in one `bulk_docs` call with revision ids computed here (`revtree.new_rev`)
and written with ``new_edits=false``. So two nodes that resolve the same
conflict write the very same revisions, and replicating them creates nothing
new, whichever store (SQLite or CouchDB) they run on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import revtree
from .store import Seq, Store

ResolverLookup = Callable[[dict], Callable[[dict, list[dict]], dict | None] | None]


@dataclass
class ResolveResult:
    resolved: list[str] = field(default_factory=list)  # document ids merged
    left_for_person: list[str] = field(default_factory=list)  # no resolver, or it declined
    failures: list[dict] = field(default_factory=list)  # writes the store refused
    last_seq: Seq = 0


def resolve_conflicts(
    store: Store, resolver_for: ResolverLookup, *, since: Seq = 0
) -> ResolveResult:
    """Resolve every conflicted document changed after `since`."""
    result = ResolveResult(last_seq=since)
    feed = store.changes(since=since, style="all_docs")
    for row in feed:
        if len(row["changes"]) > 1 and not row.get("deleted"):
            _resolve_one(store, row["id"], resolver_for, result)
    result.last_seq = feed.last_seq
    return result


def _resolve_one(
    store: Store, doc_id: str, resolver_for: ResolverLookup, result: ResolveResult
) -> None:
    winner = store.get(doc_id, conflicts=True)
    conflicts = winner.pop("_conflicts", [])
    if not conflicts:
        return  # resolved meanwhile, or only deleted conflicts: nothing to merge
    winner_rev = winner["_rev"]
    found = store.open_revs(doc_id, conflicts, revs_history=False)
    losers = sorted((item["ok"] for item in found if "ok" in item), key=lambda d: d["_rev"])
    resolver = resolver_for(winner)
    merged = resolver(winner, losers) if resolver else None
    if merged is None:
        result.left_for_person.append(doc_id)
        return
    writes = [_child(doc_id, winner_rev, False, merged, winner.get("_attachments"))]
    writes += [_child(doc_id, loser["_rev"], True, {}, None) for loser in losers]
    failures = store.bulk_docs(writes, new_edits=False)
    if failures:
        result.failures.extend(failures)
    else:
        result.resolved.append(doc_id)


def _child(doc_id: str, parent: str, deleted: bool, body: dict, attachments: dict | None) -> dict:
    """A new revision under `parent` with a deterministic id, ready for new_edits=false."""
    stubs = {
        name: {
            key: meta[key] for key in ("content_type", "digest", "length", "revpos") if key in meta
        }
        | {"stub": True}
        for name, meta in (attachments or {}).items()
    }
    rev = revtree.new_rev(parent, deleted, body, sorted(m["digest"] for m in stubs.values()))
    doc = {"_id": doc_id, "_rev": rev, **body, "_revisions": revtree.revisions_of([rev, parent])}
    if deleted:
        doc["_deleted"] = True
    if stubs:
        doc["_attachments"] = stubs
    return doc
