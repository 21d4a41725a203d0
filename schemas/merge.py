"""Domain rules for merging conflicting offline edits, as pure functions.

When two tablets edit the same record with no signal, replication keeps both
revisions as a conflict. A resolver gets the winning body and the losing
bodies (CouchDB documents, special members included) and returns the merged
body, or None to leave the conflict for a person. Resolvers must be
deterministic: two nodes resolving the same conflict must produce the same
body, so the same revision, and no new conflict.

The rules, per type:
- every type: the edit with the latest ``updated_at`` (the device clock) gives
  each field; ties go to the CouchDB winner. A record that moved to another
  place, or changed type, is left for a person (moving changes who may see it).
- patrol: ``participants`` is the union; ``incidents`` is the union (an
  incident recorded on either tablet is kept); ``track`` is the union ordered
  by time.
- home visit: ``volunteers`` and ``services`` are unions; ``needs`` is never
  shortened: items are matched by ``need_id`` and, where both edited one, the
  further-along status wins (open < in_progress < met < closed). A visit whose
  ``household`` differs is left for a person.
- water source: the more precise ``location`` (smaller ``accuracy_m``) wins;
  quality ``tests`` are a union.
- household: ``members`` is the union by name and relation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

Resolver = Callable[[dict, list[dict]], dict | None]

NEED_PROGRESS = ("open", "in_progress", "met", "closed")


def _body(doc: dict) -> dict:
    return {key: value for key, value in doc.items() if not key.startswith("_")}


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _union(lists: Iterable[list | None], key: Callable[[Any], str] = _canonical) -> list:
    """Items of every list, first appearance kept, in a stable order."""
    seen: dict[str, Any] = {}
    for items in lists:
        for item in items or []:
            seen.setdefault(key(item), item)
    return list(seen.values())


def _latest_first(winner: dict, losers: list[dict]) -> list[dict]:
    """Bodies newest edit first; equal clocks keep CouchDB's winner first."""
    docs = [winner, *sorted(losers, key=lambda d: d.get("_rev", ""), reverse=True)]
    return sorted(docs, key=lambda d: str(d.get("updated_at", "")), reverse=True)


def _base_merge(winner: dict, losers: list[dict]) -> tuple[dict, list[dict]] | None:
    """The latest edit's body, or None when the edits disagree on type or place."""
    docs = _latest_first(winner, losers)
    if len({d.get("type") for d in docs}) > 1 or len({d.get("place") for d in docs}) > 1:
        return None
    merged = _body(docs[0])
    merged["updated_at"] = docs[0].get("updated_at")
    merged["schema_version"] = max(d.get("schema_version", 0) for d in docs)
    return merged, docs


def _set_union(
    merged: dict,
    docs: list[dict],
    field: str,
    *,
    sort: bool = False,
    key: Callable[[Any], str] = _canonical,
) -> None:
    values = _union((d.get(field) for d in docs), key)
    if values or field in merged:
        merged[field] = sorted(values, key=key) if sort else values


def merge_patrol(winner: dict, losers: list[dict]) -> dict | None:
    base = _base_merge(winner, losers)
    if base is None:
        return None
    merged, docs = base
    _set_union(merged, docs, "participants", sort=True)
    _set_union(merged, docs, "incidents")
    values = _union(d.get("track") for d in docs)
    if values:
        merged["track"] = sorted(
            values, key=lambda point: (str(point.get("at")), _canonical(point))
        )
    return merged


def merge_home_visit(winner: dict, losers: list[dict]) -> dict | None:
    base = _base_merge(winner, losers)
    if base is None or len({d.get("household") for d in base[1]}) > 1:
        return None
    merged, docs = base
    _set_union(merged, docs, "volunteers", sort=True)
    _set_union(merged, docs, "services", sort=True)
    needs: dict[str, dict] = {}
    for doc in docs:  # newest edit first: it sets an item unless another is further along
        for need in doc.get("needs") or []:
            held = needs.get(need["need_id"])
            if held is None or _progress(need) > _progress(held):
                needs[need["need_id"]] = need
    if needs or "needs" in merged:
        merged["needs"] = sorted(needs.values(), key=lambda need: need["need_id"])
    return merged


def _progress(need: dict) -> int:
    status = need.get("status")
    return NEED_PROGRESS.index(status) if status in NEED_PROGRESS else -1


def merge_water_source(winner: dict, losers: list[dict]) -> dict | None:
    base = _base_merge(winner, losers)
    if base is None:
        return None
    merged, docs = base
    located = [d["location"] for d in docs if isinstance(d.get("location"), dict)]
    if located:
        merged["location"] = min(
            located, key=lambda loc: (loc.get("accuracy_m", float("inf")), _canonical(loc))
        )
    tests = _union((d.get("quality") or {}).get("tests") for d in docs)
    if tests:
        merged["quality"] = {**(merged.get("quality") or {}), "tests": tests}
    return merged


def merge_household(winner: dict, losers: list[dict]) -> dict | None:
    base = _base_merge(winner, losers)
    if base is None:
        return None
    merged, docs = base
    _set_union(
        merged, docs, "members", key=lambda m: _canonical([m.get("name"), m.get("relation")])
    )
    _set_union(merged, docs, "vulnerability", sort=True)
    return merged


RESOLVERS: dict[str, Resolver] = {
    "patrol": merge_patrol,
    "home_visit": merge_home_visit,
    "water_source": merge_water_source,
    "household": merge_household,
}


def resolver_for(doc: dict) -> Resolver | None:
    """The resolver for a document's type; None: conflicts of this type wait for a person."""
    return RESOLVERS.get(str(doc.get("type")))
