"""`_find`: Mango queries over the documents the caller may read.

`selector` (compiled by `sync.selector`), `fields`, `limit` (25 by default, as
CouchDB's), `skip`, `sort` on simple fields (one direction, as CouchDB requires) and
`bookmark` (to page on). There are no Mango indexes: a query reads the caller's scope
from the scope index in id order (narrowed to the document types a selector pins with
`type`) and tests each winning body, so it costs the scope, never the county. Like every
read, only documents `server.policy.may_read` allows are seen (home visits and
households never by the roles that may not read them). A sort leaves out documents
without the sorted field, as a CouchDB index on that field does.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator, Mapping

from flask import Response

from sync.documents import dump_json
from sync.errors import BadRequest, Forbidden
from sync.selector import collate, compile_selector

from ..accounts.auth import current_user
from ..accounts.users import User
from ..http_io import json_body, reply
from ..policy import may_read, reads_personal
from ..services import services
from .scope import IdRange

PAGE = 500  # documents read at a time
DEFAULT_LIMIT = 25
KNOWN = frozenset(
    {
        "selector",
        "limit",
        "skip",
        "sort",
        "fields",
        "bookmark",
        "use_index",
        "r",
        "conflicts",
        "execution_stats",
        "stable",
        "update",
        "allow_fallback",
    }
)
NO_INDEX = "No matching index found, create an index to optimize query time."
_MISSING = object()


def find() -> Response:
    user = current_user()
    query = json_body()
    if not isinstance(query, dict):
        raise BadRequest("_find needs a JSON object with a selector")
    unknown = sorted(set(query) - KNOWN)
    if unknown:
        raise BadRequest(f"_find: unknown field {unknown[0][:60]!r}")
    if "selector" not in query:
        raise BadRequest("_find needs a selector")
    matches = compile_selector(query["selector"])
    limit = _count(query, "limit", DEFAULT_LIMIT)
    skip = _count(query, "skip", 0)
    fields = _fields(query.get("fields"))
    sort = _sort(query.get("sort"))
    bookmark = _bookmark(query.get("bookmark"))
    started = time.monotonic()
    stats = {"total_keys_examined": 0, "total_docs_examined": 0}
    found = _matching(user, matches, _pinned_types(query["selector"]), stats, bookmark)
    if sort is None:
        docs, last_id = _first(found, skip, limit)
        next_mark = _mark({"after": last_id}) if last_id is not None else query.get("bookmark")
    else:
        field, descending = sort
        ordered = sorted(
            ((value, doc) for doc in found if (value := _lookup(doc, field)) is not _MISSING),
            key=lambda pair: _SortKey(pair[0]),
            reverse=descending,
        )
        start = bookmark.get("offset", 0) + skip
        docs = [doc for _, doc in ordered[start : start + limit]]
        next_mark = _mark({"offset": start + len(docs)})
    answer: dict = {"docs": [_project(doc, fields) for doc in docs], "bookmark": next_mark}
    answer["warning"] = NO_INDEX
    if query.get("execution_stats") is True:
        answer["execution_stats"] = {
            **stats,
            "results_returned": len(docs),
            "execution_time_ms": round((time.monotonic() - started) * 1000, 3),
        }
    return reply(answer)


def indexes() -> Response:
    """`GET _index`: the one index there is (documents by id)."""
    special = {
        "ddoc": None,
        "name": "_all_docs",
        "type": "special",
        "def": {"fields": [{"_id": "asc"}]},
    }
    return reply({"total_rows": 1, "indexes": [special]})


def create_index() -> Response:
    json_body()  # malformed input is still a 400
    raise Forbidden("indexes are not created here: _find reads your scope without one")


def _count(query: Mapping, name: str, default: int) -> int:
    value = query.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**62:
        raise BadRequest(f"_find: {name} must be a whole number from 0")
    return value


def _fields(value: object) -> list[list[str]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(f, str) and f for f in value):
        raise BadRequest("_find: fields must be a list of field names")
    return [field.split(".") for field in value]


def _sort(value: object) -> tuple[list[str], bool] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise BadRequest("_find: sort must be a list of fields")
    fields, directions = [], set()
    for item in value:
        if isinstance(item, str):
            fields.append(item)
            directions.add("asc")
        elif isinstance(item, dict) and len(item) == 1:
            ((name, direction),) = item.items()
            if direction not in ("asc", "desc"):
                raise BadRequest("_find: a sort direction is asc or desc")
            fields.append(name)
            directions.add(direction)
        else:
            raise BadRequest('_find: each sort entry is a field name or {"field": "asc"}')
    if len(directions) > 1:
        raise BadRequest("_find: all sort fields must have the same direction")
    if len(fields) != 1:
        raise BadRequest("_find: sort on one field only")
    return fields[0].split("."), directions == {"desc"}


def _mark(value: dict) -> str:
    return base64.urlsafe_b64encode(dump_json(value).encode("utf-8")).decode("ascii")


def _bookmark(value: object) -> dict:
    if value is None or value == "nil":
        return {}
    if not isinstance(value, str) or len(value) > 4096:
        raise BadRequest("_find: invalid bookmark")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise BadRequest("_find: invalid bookmark") from None
    valid = isinstance(decoded, dict) and (
        (set(decoded) == {"after"} and isinstance(decoded["after"], str))
        or (
            set(decoded) == {"offset"}
            and isinstance(decoded["offset"], int)
            and decoded["offset"] >= 0
        )
    )
    if not valid:
        raise BadRequest("_find: invalid bookmark")
    return decoded


def _pinned_types(selector: object) -> frozenset[str] | None:
    """The document types a selector's top level pins with `type` (a literal, `$eq` or
    `$in` of strings), so only those index rows are read; None when it pins none."""
    if not isinstance(selector, dict):
        return None
    condition = selector.get("type", _MISSING)
    if isinstance(condition, str):
        return frozenset({condition})
    if isinstance(condition, dict) and len(condition) == 1:
        ((op, operand),) = condition.items()
        if op == "$eq" and isinstance(operand, str):
            return frozenset({operand})
        if op == "$in" and isinstance(operand, list) and all(isinstance(t, str) for t in operand):
            return frozenset(operand)
    return None


def _matching(
    user: User,
    matches,  # noqa: ANN001 - a compiled selector
    doc_types: frozenset[str] | None,
    stats: dict,
    bookmark: dict,
) -> Iterator[dict]:
    """The winning bodies of the documents in scope that `matches`, in id order."""
    index, store = services().scope, services().store
    after = bookmark.get("after")
    while True:
        entries = index.listing(
            user.scope,
            IdRange(),
            personal=reads_personal(user),
            limit=PAGE,
            after=after,
            doc_types=doc_types,
        )
        if not entries:
            return
        after = entries[-1].doc_id
        readable = [e.doc_id for e in entries if may_read(user, e)]
        stats["total_keys_examined"] += len(entries)
        rows = store.all_docs(keys=readable, include_docs=True) if readable else []
        for row in rows:
            doc = row.get("doc")
            if not isinstance(doc, dict):
                continue  # deleted since the index read it
            stats["total_docs_examined"] += 1
            if matches(doc):
                yield doc
        if len(entries) < PAGE:
            return


def _first(found: Iterator[dict], skip: int, limit: int) -> tuple[list[dict], str | None]:
    docs: list[dict] = []
    if limit == 0:
        return docs, None
    for position, doc in enumerate(found):
        if position < skip:
            continue
        docs.append(doc)
        if len(docs) >= limit:
            break
    return docs, (docs[-1]["_id"] if docs else None)


def _lookup(doc: Mapping, path: list[str]) -> object:
    value: object = doc
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


class _SortKey:
    """CouchDB's collation across JSON types, for sorted()."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __lt__(self, other: _SortKey) -> bool:
        return collate(self.value, other.value) < 0


def _project(doc: dict, fields: list[list[str]] | None) -> dict:
    if fields is None:
        return doc
    projected: dict = {}
    for path in fields:
        value = _lookup(doc, path)
        if value is _MISSING:
            continue
        target = projected
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return projected
