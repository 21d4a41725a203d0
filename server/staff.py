"""County staff's views: the quarantine of refused revisions.

`GET /staff/quarantine` lists what the server refused in the caller's scope,
newest first, with the reasons in both languages, who pushed it and from which
device; `?body=true` includes the refused document itself (personal data:
county staff only, never admins).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Blueprint, Response, request

from schemas import split_message

from .accounts.auth import current_user, roles_required
from .http_io import flag, int_arg, reply
from .services import services

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/quarantine")
@roles_required("county_staff")
def list_quarantine() -> Response:
    scope = current_user().scope
    limit = int_arg("limit", 100, low=1, high=1000)
    before = int_arg("before", 2**62)
    items: list[dict] = []
    while len(items) < limit:  # pages, so a large quarantine is never loaded whole
        with services().db.read() as conn:
            rows = conn.execute(
                "SELECT q.id, q.doc_id, q.rev, q.body, q.reasons, q.username, q.device,"
                " q.received_at, u.scope FROM quarantine q LEFT JOIN users u USING (username)"
                " WHERE q.id < ? ORDER BY q.id DESC LIMIT 500",
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
    if not (place.startswith(scope) or (pusher_scope or "").startswith(scope)):
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
