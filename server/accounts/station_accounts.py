"""`/accounts/`: the station's accounts, read only, for its lead's hub.

A station hub lets the station's volunteers sign in with no county in reach, so it
holds their accounts (password hashes, never passwords). It asks for them here as
the station lead, with CouchDB's `_all_docs` (so `CouchStore` reads it like any
database); `server.policy.may_read_account` decides which: the volunteers and leads
of the lead's station. Every other role gets 403, and no `/db/` endpoint serves an
account at all (they are not in the county's document store). Read only: accounts
are made and changed at the county (`fieldsync admin`).
"""

from __future__ import annotations

from flask import Blueprint, Response

from ..http_io import flag, int_arg, json_arg, reply
from ..policy import may_read_account
from ..services import services
from .auth import current_user, roles_required

bp = Blueprint("station_accounts", __name__, url_prefix="/accounts")


@bp.before_request
@roles_required("station_lead")
def _lead_only() -> None:
    return None


@bp.get("")
@bp.get("/")
def info() -> Response:
    return reply({"db_name": "accounts", "doc_count": len(_readable()), "update_seq": 0})


@bp.get("/_all_docs")
def all_docs() -> Response:
    """The readable accounts in id order, with CouchDB's startkey, endkey, skip, limit."""
    start, end = (
        json_arg("startkey", json_arg("start_key")),
        json_arg("endkey", json_arg("end_key")),
    )
    skip, limit = int_arg("skip", 0), int_arg("limit", 10**6, low=1)
    docs = [
        doc
        for doc in _readable()
        if (not isinstance(start, str) or doc["_id"] >= start)
        and (not isinstance(end, str) or doc["_id"] <= end)
    ]
    page = docs[skip : skip + limit]
    with_docs = flag("include_docs")
    rows = [
        {
            "id": d["_id"],
            "key": d["_id"],
            "value": {"rev": d["_rev"]},
            **({"doc": d} if with_docs else {}),
        }
        for d in page
    ]
    return reply({"total_rows": len(docs), "offset": skip, "rows": rows})


def _readable() -> list[dict]:
    caller = current_user()
    users = services().users
    return [doc for doc in users.documents() if may_read_account(caller, users.account(doc))]
