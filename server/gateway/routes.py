"""The CouchDB-compatible database each user replicates with: ``/db/``.

One logical database per caller: every read is limited to the caller's place
scope and role (home visits and households only to the roles allowed), every
write goes through the push pipeline (`push.py`: validate, authorize by
`server.policy`, keep or quarantine). PouchDB and our replicator sync with it
unchanged. Documents are looked up in the scope index before they are read, and
a document the caller may not see is answered exactly like one that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from flask import Blueprint, Response, current_app, g, request

from sync import revtree
from sync.documents import check_doc_id
from sync.errors import BadRequest, Forbidden, NotFound, StoreError
from sync.store import Store

from ..accounts.auth import current_user, login_required
from ..accounts.users import User
from ..http_io import flag, gzipped, int_arg, json_arg, json_body, reply, store_error
from ..policy import may_read, reads_personal
from ..services import services
from . import local_docs
from .push import save_pushed
from .scope import IndexEntry, ScopeIndex
from .validation import RequestBody

bp = Blueprint("gateway", __name__, url_prefix="/db")
bp.register_error_handler(StoreError, store_error)

CHANGES_PAGE = 1000


def scope_index() -> ScopeIndex:
    return services().scope


def visible(doc_id: str) -> IndexEntry:
    """The index entry of a document the caller may read, else NotFound (never Forbidden:
    the answer must not tell whether an out-of-scope document exists)."""
    entry = scope_index().lookup(doc_id)
    if entry is None or not may_read(current_user(), entry):
        raise NotFound("missing", doc_id=doc_id)
    return entry


# -- database ------------------------------------------------------------------------------------


@bp.before_request
@login_required
def _catch_up() -> None:
    g.arrived = time.monotonic()
    # `_local` documents are the caller's own (local_docs.py), never looked up in the
    # index: a replicator's checkpoint, after every batch, need not wait for it. A push
    # catches up while the schemas judge it (save_pushed), `_revs_diff` only when it
    # must (revs_diff).
    if request.endpoint not in _CATCH_UP_ELSEWHERE:
        # Changes made before this request must be in the index; a run that began
        # after it arrived (another request's, while this one waited) has them.
        scope_index().catch_up(needed_as_of=g.arrived)


_CATCH_UP_ELSEWHERE = frozenset(
    {
        "gateway.local_doc",
        "gateway.revs_diff",
        "gateway.bulk_docs",
        "gateway.put_doc",
        "gateway.delete_doc",
    }
)


@bp.get("/")
def info() -> Response:
    user = current_user()
    seq = scope_index().last_seq(user.scope, personal=reads_personal(user))
    with services().db.read() as conn:
        start = conn.execute("SELECT value FROM meta WHERE key = 'instance_start_time'").fetchone()[
            0
        ]
    return reply(
        {
            "db_name": "db",
            "update_seq": seq,
            "instance_start_time": start,
            "doc_count": None,
            "purge_seq": 0,
            "compact_running": False,
        }
    )


@bp.put("/")
def create_database() -> Response:
    return reply({"error": "file_exists", "reason": "The database already exists."}, 412)


@bp.route("/_changes", methods=["GET", "POST"])
def changes() -> Response:
    user = current_user()
    since = request.args.get("since", "0")
    if since == "now":
        since_seq = scope_index().last_seq(user.scope, personal=reads_personal(user))
    else:  # bounded: SQLite's integers end at 2**63 - 1 (a larger since was a 500)
        since_seq = int_arg("since", 0, high=2**63 - 1)
    limit = int_arg("limit", CHANGES_PAGE, low=1, high=10_000)
    doc_ids = None
    if request.args.get("filter") == "_doc_ids":
        body = json_body() if request.method == "POST" else {"doc_ids": json_arg("doc_ids")}
        doc_ids = body.get("doc_ids") if isinstance(body, dict) else None
        if not isinstance(doc_ids, list) or not all(isinstance(i, str) for i in doc_ids):
            raise BadRequest("filter=_doc_ids needs a list of document ids in doc_ids")
    elif request.args.get("filter"):
        raise BadRequest("only the _doc_ids filter is supported; scope is applied for you")
    entries = _scoped_changes(user, since_seq, limit, doc_ids)
    if not entries and request.args.get("feed") == "longpoll":
        deadline = time.monotonic() + min(
            int_arg("timeout", 60_000, high=3_600_000) / 1000,
            current_app.config["LONGPOLL_SECONDS"],
        )
        seen = max(since_seq, scope_index().latest_gseq())
        while not entries and (remaining := deadline - time.monotonic()) > 0:
            # Woken by any change the index takes in; most are outside this scope.
            seen = scope_index().wait_beyond(seen, remaining)
            entries = _scoped_changes(user, since_seq, limit, doc_ids)
    results = [_change_row(entry) for entry in entries]
    last_seq = entries[-1].gseq if entries else since_seq
    return reply(
        {"results": results, "last_seq": last_seq, "pending": 0 if len(entries) < limit else 1}
    )


def _scoped_changes(
    user: User, since: int, limit: int, doc_ids: list[str] | None
) -> list[IndexEntry]:
    return scope_index().changes(
        user.scope, since, limit, personal=reads_personal(user), doc_ids=doc_ids
    )


def _change_row(entry: IndexEntry) -> dict:
    revs = entry.leaves if request.args.get("style") == "all_docs" else entry.leaves[:1]
    row: dict = {"seq": entry.gseq, "id": entry.doc_id, "changes": [{"rev": r} for r in revs]}
    if entry.deleted:
        row["deleted"] = True
    if flag("include_docs"):
        found = services().store.open_revs(entry.doc_id, entry.leaves[:1])
        row["doc"] = found[0].get("ok") if found else None
    return row


@bp.post("/_revs_diff")
def revs_diff() -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("_revs_diff needs an object of {id: [revs]}")
    # Every entry is checked here, alike for every id. A document the index has never
    # seen (a new one: nearly every id a tablet asks about) or one the caller may not
    # see is answered here as wholly missing, the store's answer for a missing document,
    # so neither an error, an entry's shape nor its position tells a hidden document
    # from a missing one. Only documents the caller sees are asked of the store.
    for doc_id, revs in body.items():
        check_doc_id(doc_id)
        if not isinstance(revs, list):
            raise BadRequest(f"_revs_diff: revisions of {doc_id[:80]!r} must be a list")
    wanted = {doc_id: [revtree.normalize_rev(rev) for rev in revs] for doc_id, revs in body.items()}
    seen = _seen(wanted)
    if seen:
        # One of them may have left the caller's scope since the index last read the
        # store: asked again on an index holding every change made before this request.
        # Without such an id there is nothing to wait for: a document the index has not
        # read yet is answered as missing, so the replicator sends it, and the push is
        # judged on a caught-up index (one the store holds is answered as done, _Push.save).
        scope_index().catch_up(needed_as_of=g.arrived)
        seen = _seen(wanted)
    stored = services().store.revs_diff({i: wanted[i] for i in seen}) if seen else {}
    answer = {}
    for doc_id, revs in wanted.items():
        if doc_id in stored:
            answer[doc_id] = stored[doc_id]
        elif doc_id not in seen and revs:
            answer[doc_id] = {"missing": revs}
    return reply(answer)


def _seen(doc_ids: Iterable[str]) -> set[str]:
    """Those of `doc_ids` that the caller may read, by the index as it is now."""
    user = current_user()
    known = scope_index().lookup_many(list(doc_ids))
    return {doc_id for doc_id, entry in known.items() if may_read(user, entry)}


@bp.post("/_bulk_get")
def bulk_get() -> Response:
    body = json_body()
    requests_ = body.get("docs") if isinstance(body, dict) else None
    if not isinstance(requests_, list):
        raise BadRequest('_bulk_get needs {"docs": [{"id", "rev"?}...]}')
    results: list[dict | None] = [None] * len(requests_)
    readable: list[tuple[int, dict]] = []
    for index, item in enumerate(requests_):
        try:
            visible(str(item.get("id") if isinstance(item, dict) else None))
            readable.append((index, item))
        except StoreError as exc:
            results[index] = _bulk_get_error(item, exc)
    attachments = flag("attachments")
    store = services().store
    try:  # one store call for the whole batch (one round trip to CouchDB, not one per doc)
        answers = (
            store.bulk_get([item for _, item in readable], revs=True, attachments=attachments)
            if readable
            else []
        )
    except StoreError:  # a malformed item spoils a batch: answer each one on its own
        answers = [_bulk_get_one(store, item, attachments) for _, item in readable]
    for (index, _), answer in zip(readable, answers, strict=True):
        results[index] = answer
    return reply({"results": results})


def _bulk_get_one(store: Store, item: dict, attachments: bool) -> dict:
    try:
        (answer,) = store.bulk_get([item], revs=True, attachments=attachments)
        return answer
    except StoreError as exc:
        return _bulk_get_error(item, exc)


def _bulk_get_error(item: object, exc: StoreError) -> dict:
    doc_id = item.get("id") if isinstance(item, dict) else None
    rev = item.get("rev") if isinstance(item, dict) else None
    return {
        "id": doc_id,
        "docs": [{"error": {"id": doc_id, "rev": rev, "error": exc.error, "reason": exc.reason}}],
    }


@bp.post("/_bulk_docs")
def bulk_docs() -> Response:
    body = json_body()
    docs = body.get("docs") if isinstance(body, dict) else None
    if not isinstance(docs, list):
        raise BadRequest('_bulk_docs needs {"docs": [...]}')
    new_edits = body.get("new_edits", True)
    if not isinstance(new_edits, bool):
        raise BadRequest("new_edits must be true or false")
    rows = save_pushed(docs, new_edits, RequestBody(request.get_data(cache=True), gzipped()))
    if new_edits:
        return reply(rows, 201)
    return reply([row for row in rows if "error" in row], 201)


# -- _all_docs and _local ------------------------------------------------------------------------


@bp.route("/_all_docs", methods=["GET", "POST"])
def all_docs() -> Response:
    user = current_user()
    include_docs = flag("include_docs")
    if request.method == "POST":
        body = json_body()
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list):
            raise BadRequest('POST _all_docs needs {"keys": [...]}')
        rows = [_all_docs_row(key, include_docs) for key in keys]
        return reply({"total_rows": None, "offset": None, "rows": rows})
    start = json_arg("startkey", json_arg("start_key", ""))
    limit = int_arg("limit", 1000, low=0, high=10_000)
    entries = scope_index().listing(user.scope, str(start), limit, personal=reads_personal(user))
    rows = [_all_docs_row(entry.doc_id, include_docs) for entry in entries]
    return reply({"total_rows": None, "offset": None, "rows": rows})


def _all_docs_row(key: object, include_docs: bool) -> dict:
    try:
        visible(str(key))
        (row,) = services().store.all_docs(keys=[str(key)], include_docs=include_docs)
        return row
    except StoreError:
        return {"key": key, "error": "not_found"}


bp.add_url_rule(
    "/_local/<path:local_id>", view_func=local_docs.local_doc, methods=["GET", "PUT", "DELETE"]
)


# -- one document ----------------------------------------------------------------------------


@bp.get("/<doc_id>")
def get_doc(doc_id: str) -> Response:
    visible(doc_id)
    store = services().store
    open_revs = request.args.get("open_revs")
    if open_revs is not None:
        revs = "all" if open_revs == "all" else json_arg("open_revs")
        return reply(
            store.open_revs(
                doc_id,
                revs,
                revs_history=flag("revs"),  # type: ignore
                attachments=flag("attachments"),
                atts_since=json_arg("atts_since"),
            )
        )
    return reply(
        store.get(
            doc_id,
            rev=request.args.get("rev"),
            revs=flag("revs"),
            conflicts=flag("conflicts"),
            deleted_conflicts=flag("deleted_conflicts"),
            attachments=flag("attachments"),
            atts_since=json_arg("atts_since"),
        )
    )


@bp.put("/<doc_id>")
def put_doc(doc_id: str) -> Response:
    doc = json_body()
    if not isinstance(doc, dict):
        raise BadRequest("a document must be a JSON object")
    if doc.setdefault("_id", doc_id) != doc_id:
        raise BadRequest("the _id in the body differs from the one in the URL")
    if "rev" in request.args:
        doc["_rev"] = request.args["rev"]
    (row,) = save_pushed([doc], request.args.get("new_edits", "true") != "false")
    return _single_answer(row)


@bp.delete("/<doc_id>")
def delete_doc(doc_id: str) -> Response:
    (row,) = save_pushed([{"_id": doc_id, "_rev": request.args.get("rev"), "_deleted": True}], True)
    return _single_answer(row)


def _single_answer(row: dict) -> Response:
    if "error" in row:
        status = {"forbidden": 403, "conflict": 409, "bad_request": 400, "too_large": 413}.get(
            row["error"], 400
        )
        return reply({"error": row["error"], "reason": row["reason"]}, status)
    return reply({"ok": True, "id": row["id"], "rev": row["rev"]}, 201)


@bp.get("/<doc_id>/<path:name>")
def get_attachment(doc_id: str, name: str) -> Response:
    visible(doc_id)
    attachment = services().store.get_attachment(doc_id, name, rev=request.args.get("rev"))
    response = Response(attachment.data, mimetype=attachment.content_type)
    response.headers["ETag"] = f'"{attachment.digest.removeprefix("md5-")}"'
    return response


@bp.route("/<doc_id>/<path:name>", methods=["PUT", "DELETE"])
def change_attachment(doc_id: str, name: str) -> Response:
    raise Forbidden("attachments are sent inline with their document (_bulk_docs or PUT)")
