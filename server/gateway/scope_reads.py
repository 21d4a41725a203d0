"""Reads of the scope index that the standard CouchDB endpoints need beyond `ScopeIndex`:
counts in a scope (`doc_count`, `total_rows`, `pending`), id ranges in either direction
with `skip` (`_all_docs`, `_find`), and the newest changes first (`descending`).

Each is one indexed query on the index's own table, scoped like `ScopeIndex.changes`
(the caller's level column, personal rows only to the roles that read them). They
belong beside `ScopeIndex.listing` and can move into `scope.py` unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from schemas import place_level

from .scope import _COLUMNS, IndexEntry, ScopeIndex, _entry

LEVEL_COLUMNS = ("county", "township", "village", "grid")  # the index's place columns


@dataclass(frozen=True)
class IdRange:
    """An `_all_docs`-style range of document ids. `start` and `end` are in the order
    rows are read (with `descending`, `start` is the greater id)."""

    start: str | None = None
    end: str | None = None
    inclusive_end: bool = True
    descending: bool = False


def _scoped(scope: str, personal: bool) -> tuple[str, list]:
    level = place_level(scope)
    return f"{level} = ?" + ("" if personal else " AND personal = 0"), [scope]


def count_documents(index: ScopeIndex, scope: str, *, personal: bool) -> tuple[int, int]:
    """(live, deleted) documents in the scope."""
    where, params = _scoped(scope, personal)
    with index.db.read() as conn:
        live, deleted = conn.execute(
            f"SELECT COUNT(*) - COALESCE(SUM(deleted), 0), COALESCE(SUM(deleted), 0) "
            f"FROM scope_index WHERE {where}",
            params,
        ).fetchone()
    return int(live), int(deleted)


def count_changes_after(
    index: ScopeIndex, scope: str, since: int, *, personal: bool, doc_ids: list[str] | None
) -> int:
    """How many in-scope changes come after gateway sequence `since` (`pending`)."""
    where, params = _scoped(scope, personal)
    query = f"SELECT COUNT(*) FROM scope_index WHERE {where} AND gseq > ?"
    params.append(since)
    if doc_ids is not None:
        query += " AND doc_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(doc_ids))
    with index.db.read() as conn:
        return int(conn.execute(query, params).fetchone()[0])


def changes_descending(
    index: ScopeIndex,
    scope: str,
    since: int,
    limit: int,
    *,
    personal: bool,
    doc_ids: list[str] | None,
    before: int | None = None,
) -> list[IndexEntry]:
    """In-scope changes after `since` (and before `before`, when paging), newest first."""
    where, params = _scoped(scope, personal)
    query = f"SELECT {_COLUMNS} FROM scope_index WHERE {where} AND gseq > ?"
    params.append(since)
    if before is not None:
        query += " AND gseq < ?"
        params.append(before)
    if doc_ids is not None:
        query += " AND doc_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(doc_ids))
    with index.db.read() as conn:
        rows = conn.execute(query + " ORDER BY gseq DESC LIMIT ?", (*params, limit)).fetchall()
    return [_entry(row) for row in rows]


def listing(
    index: ScopeIndex,
    scope: str,
    ids: IdRange,
    *,
    personal: bool,
    limit: int,
    skip: int = 0,
    after: str | None = None,
    doc_types: frozenset[str] | None = None,
) -> list[IndexEntry]:
    """Live in-scope documents by id within `ids`, in its direction; `after` resumes
    past an id already read (paging), `doc_types` narrows to those types."""
    where, params = _scoped(scope, personal)
    query = f"SELECT {_COLUMNS} FROM scope_index WHERE {where} AND deleted = 0"
    first, last = (">=", "<=") if not ids.descending else ("<=", ">=")
    if ids.start is not None:
        query += f" AND doc_id {first} ?"
        params.append(ids.start)
    if ids.end is not None:
        query += f" AND doc_id {last if ids.inclusive_end else last[0]} ?"
        params.append(ids.end)
    if after is not None:
        query += f" AND doc_id {first[0]} ?"
        params.append(after)
    if doc_types is not None:
        query += " AND doc_type IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(doc_types)))
    order = "DESC" if ids.descending else "ASC"
    with index.db.read() as conn:
        rows = conn.execute(
            query + f" ORDER BY doc_id {order} LIMIT ? OFFSET ?", (*params, limit, skip)
        ).fetchall()
    return [_entry(row) for row in rows]


def places_changed(index: ScopeIndex, after: int, through: int) -> set[tuple[str, str, bool]]:
    """(level, place code, personal) of every level of every place that changes after
    gateway sequence `after` and up to `through` are in: the scopes they concern."""
    with index.db.read() as conn:
        rows = conn.execute(
            "SELECT DISTINCT county, township, village, grid, personal FROM scope_index "
            "WHERE gseq > ? AND gseq <= ?",
            (after, through),
        ).fetchall()
    return {
        (level, code, bool(personal))
        for *codes, personal in rows
        for level, code in zip(LEVEL_COLUMNS, codes, strict=True)
        if code
    }
