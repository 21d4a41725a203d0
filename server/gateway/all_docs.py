"""`_all_docs` of the caller's scope, as CouchDB 3 answers it.

`keys` (GET parameter or POST body), `key`, `startkey`/`start_key`,
`endkey`/`end_key`, `inclusive_end`, `descending`, `skip`, `limit`, `include_docs`
and `update_seq`. Without a `limit` every document in scope is listed (read from the
index a page at a time, never cut at a page). `total_rows` counts the documents the
caller may read; `offset` is how many rows of the range came before the first one.
A document the caller may not read is answered exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, request, stream_with_context

from sync.documents import dump_json
from sync.errors import BadRequest

from ..accounts.auth import current_user
from ..accounts.users import User
from ..http_io import flag, int_arg, json_arg, json_body, reply
from ..policy import may_read, reads_personal
from ..services import services
from .scope import IdRange, IndexEntry

PAGE = 1000  # documents read at a time; never a limit on the answer


def all_docs() -> Response:
    user = current_user()
    include_docs = flag("include_docs")
    skip = int_arg("skip", 0, high=2**62)
    limit = int_arg("limit", 2**62, high=2**62)
    keys = _keys()
    live, _ = services().scope.count_documents(user.scope, personal=reads_personal(user))
    head: dict = {"total_rows": live}
    if flag("update_seq"):
        head["update_seq"] = services().scope.last_seq(user.scope, personal=reads_personal(user))
    if keys is not None:
        if flag("descending"):
            keys = list(reversed(keys))
        rows = keyed_rows(user, keys[skip : skip + limit], include_docs)
        return reply({**head, "offset": None, "rows": rows})
    ids = _range()
    return _listed(user, ids, skip, limit, include_docs, head)


def _keys() -> list | None:
    if request.method == "POST":
        body = json_body()
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list):
            raise BadRequest('POST _all_docs needs {"keys": [...]}')
        return keys
    if "keys" in request.args:
        keys = json_arg("keys")
        if not isinstance(keys, list):
            raise BadRequest("keys must be a JSON array of document ids")
        return keys
    return None  # a range (`key` is a range of one id: see _range)


def _id_arg(*names: str) -> str | None:
    for name in names:
        if name in request.args:
            value = json_arg(name)
            if not isinstance(value, str):
                raise BadRequest(f"{name} must be a JSON string (a document id)")
            return value
    return None


def _range() -> IdRange:
    inclusive = request.args.get("inclusive_end", "true").lower()
    if inclusive not in ("true", "false"):
        raise BadRequest("inclusive_end must be true or false")
    key = _id_arg("key")
    if key is not None:
        return IdRange(key, key, True, flag("descending"))
    return IdRange(
        start=_id_arg("startkey", "start_key"),
        end=_id_arg("endkey", "end_key"),
        inclusive_end=inclusive == "true",
        descending=flag("descending"),
    )


def keyed_rows(user: User, keys: list, include_docs: bool) -> list[dict]:
    """One row per key, in order: the store's row for a document the caller may read
    (deleted ones included, as CouchDB lists them), else `not_found`."""
    ids = [key for key in keys if isinstance(key, str)]
    known = services().scope.lookup_many(list(set(ids)))
    readable = sorted({i for i in ids if i in known and may_read(user, known[i])})
    stored = (
        {
            row["key"]: row
            for row in services().store.all_docs(keys=readable, include_docs=include_docs)
        }
        if readable
        else {}
    )
    rows = []
    for key in keys:
        row = stored.get(key) if isinstance(key, str) else None
        rows.append(
            row if row is not None and "error" not in row else {"key": key, "error": "not_found"}
        )
    return rows


def _listed(
    user: User, ids: IdRange, skip: int, limit: int, include_docs: bool, head: dict
) -> Response:
    first = _page(user, ids, skip, min(PAGE, limit), None, include_docs)
    offset = skip  # rows of the range before the first one
    if len(first[0]) < min(PAGE, limit) or len(first[0]) >= limit:
        return reply({**head, "offset": offset, "rows": first[1]})

    def body() -> Iterator[bytes]:
        yield (dump_json({**head, "offset": offset})[:-1] + ',"rows":[\r\n').encode("utf-8")
        entries, rows = first
        yield ",\r\n".join(dump_json(row) for row in rows).encode("utf-8")
        left = limit - len(entries)
        while left > 0 and len(entries) == PAGE:
            entries, rows = _page(user, ids, 0, min(PAGE, left), entries[-1].doc_id, include_docs)
            left -= len(entries)
            if rows:
                yield (",\r\n" + ",\r\n".join(dump_json(row) for row in rows)).encode("utf-8")
        yield b"\r\n]}\n"

    return Response(stream_with_context(body()), mimetype="application/json")


def _page(
    user: User, ids: IdRange, skip: int, size: int, after: str | None, include_docs: bool
) -> tuple[list[IndexEntry], list[dict]]:
    entries = services().scope.listing(
        user.scope,
        ids,
        personal=reads_personal(user),
        limit=size,
        skip=skip,
        after=after,
    )
    # Read by the one rule too (the query is scoped alike); the page's length, for paging,
    # is the index's.
    readable = [entry for entry in entries if may_read(user, entry)]
    if not include_docs:
        rows = [{"id": e.doc_id, "key": e.doc_id, "value": {"rev": e.leaves[0]}} for e in readable]
        return entries, rows
    stored = (
        {
            row["key"]: row
            for row in services().store.all_docs(
                keys=[e.doc_id for e in readable], include_docs=True
            )
        }
        if readable
        else {}
    )
    rows = []
    for entry in readable:
        row = stored.get(entry.doc_id)
        # Deleted since the index read it: CouchDB's range listing skips deleted ones.
        if row is not None and "error" not in row and not row["value"].get("deleted"):
            rows.append(row)
    return entries, rows
