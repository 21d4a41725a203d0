"""County staff's views: the quarantine of refused revisions, and references accepted
before the documents they name had arrived.

`GET /staff/quarantine` lists what the server refused in the caller's scope,
newest first, with the reasons in both languages, who pushed it and from which
device; `?body=true` includes the refused document itself (personal data:
county staff only, never admins).

`GET /staff/unresolved` lists accepted records in the caller's scope that name a
household, station, team or place the server has not seen yet (offline work arrives
in any order; most settle when the other tablet syncs).

`GET /staff/refused-pushes` lists pushes refused whole as floods (too many refusals
in one push, or from one device in an hour), each kept as one summary: who, from
which device, how many documents and refusals, the commonest reasons.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Blueprint, Response, request

from schemas import split_message

from .accounts.auth import current_user, roles_required
from .http_io import flag, int_arg, reply
from .policy import in_scope, may_read
from .services import services

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/quarantine")
@roles_required("county_staff")
def list_quarantine() -> Response:
    scope = current_user().scope
    limit = int_arg("limit", 100, low=1, high=1000)
    before = int_arg("before", 2**62)
    items: list[dict] = []
    services().ledger_index.catch_up()  # what other gateway processes quarantined too
    while len(items) < limit:  # pages, so a large quarantine is never loaded whole
        with services().db.read() as conn:
            rows = conn.execute(
                "SELECT id, doc_id, rev, body, reasons, username, device, received_at,"
                " pusher_scope FROM quarantine WHERE id < ? ORDER BY id DESC LIMIT 500",
                (before,),
            ).fetchall()
        if not rows:
            break
        before = rows[-1][0]
        items += [item for row in rows if (item := _item(row, scope))][: limit - len(items)]
    next_before = items[-1]["id"] if len(items) >= limit else None
    return reply(
        {
            "items": items,
            "next_before": next_before,
            "query": {"limit": limit, "before": request.args.get("before")},
        }
    )


def _item(row: tuple, scope: str) -> dict | None:
    """One quarantined revision for a caller scoped at `scope`, or None if outside it."""
    row_id, doc_id, rev, body, reasons, username, device, received_at, pusher_scope = row
    doc = json.loads(body)
    place = doc.get("place") if isinstance(doc.get("place"), str) else ""
    # In the caller's scope if the document says so, or if its pusher works there.
    if not (in_scope(place, scope) or in_scope(pusher_scope, scope)):
        return None
    item = {
        "id": row_id,
        "doc_id": doc_id,
        "rev": rev,
        "place": place,
        "reasons": [split_message(r) for r in json.loads(reasons)],
        "pushed_by": username,
        "device": device,
        "received_at": datetime.fromtimestamp(received_at, UTC).isoformat(),
    }
    if flag("body"):
        item["doc"] = doc
    return item


@bp.get("/unresolved")
@roles_required("county_staff")
def list_unresolved() -> Response:
    """Accepted records in scope whose references have not arrived, oldest first."""
    user = current_user()
    limit = int_arg("limit", 100, low=1, high=1000)
    after = int_arg("after", 0)
    scope = services().scope
    items: list[dict] = []
    while len(items) < limit:  # pages, so a long list is never loaded whole
        with services().db.read() as conn:
            rows = conn.execute(
                "SELECT id, doc_id, rev, field, ref_id, username, at FROM unresolved_references"
                " WHERE id > ? ORDER BY id LIMIT 500",
                (after,),
            ).fetchall()
        if not rows:
            break
        after = rows[-1][0]
        entries = scope.lookup_many(sorted({row[1] for row in rows} | {row[4] for row in rows}))
        for row_id, doc_id, rev, name, ref_id, username, at in rows:
            record, reference = entries.get(doc_id), entries.get(ref_id)
            if record is None or not may_read(user, record):
                continue
            if reference is not None and not reference.deleted:
                continue  # arrived since (a catch-up that ran before this was recorded)
            items.append(
                {
                    "id": row_id,
                    "doc_id": doc_id,
                    "rev": rev,
                    "field": name,
                    "ref_id": ref_id,
                    "pushed_by": username,
                    "received_at": datetime.fromtimestamp(at, UTC).isoformat(),
                }
            )
            if len(items) >= limit:
                break
    return reply({"items": items, "next_after": items[-1]["id"] if len(items) >= limit else None})


@bp.get("/refused-pushes")
@roles_required("county_staff")
def list_refused_pushes() -> Response:
    """Pushes refused whole, newest first, by pushers working in the caller's scope."""
    scope = current_user().scope
    limit = int_arg("limit", 100, low=1, high=1000)
    services().ledger_index.catch_up()
    with services().db.read() as conn:
        rows = conn.execute(
            "SELECT id, username, device, at, documents, refused, status, reasons,"
            " pusher_scope FROM refused_pushes ORDER BY id DESC LIMIT ?",
            (limit * 10,),
        ).fetchall()
    items = [
        {
            "id": row_id,
            "pushed_by": username,
            "device": device,
            "at": datetime.fromtimestamp(at, UTC).isoformat(),
            "documents": documents,
            "refused": refused,
            "status": status,
            "reasons": [
                {**split_message(reason), "count": count} for reason, count in json.loads(reasons)
            ],
        }
        for row_id, username, device, at, documents, refused, status, reasons, pusher in rows
        if in_scope(pusher, scope)
    ][:limit]
    return reply({"items": items})
