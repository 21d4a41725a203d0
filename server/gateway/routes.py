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
import uuid
from collections.abc import Iterable

from flask import Blueprint, Response, current_app, g, request

from sync import arguments, revtree
from sync.errors import BadRequest, Forbidden, NotFound, StoreError, TooLarge
from sync.store import Store

from ..accounts.auth import current_user, login_required
from ..http_io import flag, gzipped, json_arg, json_body, reply, store_error
from ..policy import may_read, reads_personal
from ..services import services
from . import all_docs, feeds, find, local_docs, multipart
from .push import save_pushed
from .scope import IndexEntry, ScopeIndex

bp = Blueprint("gateway", __name__, url_prefix="/db")
bp.register_error_handler(StoreError, store_error)
bp.record_once(feeds.init_slots)  # the slots that bound waiting feeds, one set per app

REVS_LIMIT = 1000  # revisions kept per branch (the stores' default, CouchDB's too)


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
    if g.device:
        services().devices.seen(g.device, current_user().username)
    # `_local` documents are the caller's own (local_docs.py), never looked up in the
    # index: a replicator's checkpoint, after every batch, need not wait for it. A push
    # catches up while the schemas judge it (save_pushed).
    if request.endpoint not in _CATCH_UP_ELSEWHERE:
        # Changes made before this request must be in the index; a run that began
        # after it arrived (another request's, while this one waited) has them.
        scope_index().catch_up(needed_as_of=g.arrived)


_CATCH_UP_ELSEWHERE = frozenset(
    {
        "gateway.local_doc",
        "gateway.bulk_docs",
        "gateway.put_doc",
        "gateway.delete_doc",
        "gateway.post_doc",
        "gateway.ensure_full_commit",
        "gateway.revs_limit",
    }
)


def _instance_start_time() -> str:
    with services().db.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'instance_start_time'").fetchone()
    return row[0]


# `/db` and `/db/` alike: CouchDB clients ask for the database without the slash (a
# redirect is no answer to HEAD, and couchdb-python and python-cloudant do not follow it).
@bp.get("")
@bp.get("/")
def info() -> Response:
    """The caller's database: its sequence and its documents, counted in the caller's scope."""
    user = current_user()
    personal = reads_personal(user)
    live, deleted = scope_index().count_documents(user.scope, personal=personal)
    return reply(
        {
            "db_name": "db",
            "update_seq": scope_index().last_seq(user.scope, personal=personal),
            "instance_start_time": _instance_start_time(),
            "doc_count": live,
            "doc_del_count": deleted,
            "purge_seq": 0,
            "compact_running": False,
            "disk_format_version": 8,
            "props": {},
        }
    )


@bp.put("")
@bp.put("/")
def create_database() -> Response:
    return reply(
        {
            "error": "file_exists",
            "reason": "The database could not be created, the file already exists.",
        },
        412,
    )


@bp.post("")
@bp.post("/")
def post_doc() -> Response:
    """`POST /db`: a new document (python-cloudant's create_document), through the push
    pipeline like every write; without an `_id`, one is made (and judged like any)."""
    doc = json_body()
    if not isinstance(doc, dict):
        raise BadRequest("a document must be a JSON object")
    doc.setdefault("_id", uuid.uuid4().hex)
    (row,) = save_pushed([doc], True)
    return _single_answer(row)


@bp.post("/_ensure_full_commit")
def ensure_full_commit() -> Response:
    """Every write is durable once answered (both stores commit before they answer), so
    there is nothing to flush; CouchDB's replicator asks on both ends at each checkpoint."""
    return reply({"ok": True, "instance_start_time": _instance_start_time()}, 201)


@bp.route("/_revs_limit", methods=["GET", "PUT"])
def revs_limit() -> Response:
    if request.method == "PUT":
        raise Forbidden("the revision limit is the server's to set")
    return reply(REVS_LIMIT)


bp.add_url_rule("/_changes", view_func=feeds.changes, methods=["GET", "POST"])
bp.add_url_rule("/_find", view_func=find.find, methods=["POST"])
bp.add_url_rule("/_index", view_func=find.indexes, methods=["GET"])
bp.add_url_rule("/_index", "create_index", view_func=find.create_index, methods=["POST"])


@bp.post("/_revs_diff")
def revs_diff() -> Response:
    # Every entry is checked first, alike for every id. A document the caller may not see
    # is answered as wholly missing, the store's answer for a missing document, so neither
    # an error, an entry's shape nor its position tells a hidden document from a missing
    # one; only documents the caller sees are asked of the store, on an index holding
    # every change made before the request (one may have left the caller's scope).
    wanted = arguments.revs_diff(json_body())
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
    latest = flag("latest") or (isinstance(body, dict) and body.get("latest") is True)
    for index, item in enumerate(requests_):
        try:
            entry = visible(str(item.get("id") if isinstance(item, dict) else None))
            if latest and isinstance(item.get("rev"), str) and item["rev"] not in entry.leaves:
                item = {**item, "rev": _latest_rev(entry.doc_id, item["rev"])}
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
    new_edits = arguments.flag(body.get("new_edits", True), "new_edits")
    rows = save_pushed(docs, new_edits)
    if new_edits:
        return reply(rows, 201)
    return reply([row for row in rows if "error" in row], 201)


def _latest_rev(doc_id: str, rev: str) -> str:
    """`latest=true`: the leaf that `rev` has become (the replicator asks for the revision
    the feed showed, which may have been edited since); `rev` itself when none has it."""
    try:
        wanted = revtree.normalize_rev(rev)
    except StoreError:
        return rev
    for leaf in services().store.open_revs(doc_id, "all"):
        doc = leaf.get("ok")
        if doc and wanted in revtree.path_from_revisions(doc["_revisions"]):
            return doc["_rev"]
    return rev


# -- _all_docs and _local ------------------------------------------------------------------------

bp.add_url_rule("/_all_docs", view_func=all_docs.all_docs, methods=["GET", "POST"])
bp.add_url_rule(
    "/_local/<path:local_id>", view_func=local_docs.local_doc, methods=["GET", "PUT", "DELETE"]
)


# -- one document ----------------------------------------------------------------------------


@bp.get("/<doc_id>")
def get_doc(doc_id: str) -> Response:
    entry = visible(doc_id)
    store = services().store
    open_revs = request.args.get("open_revs")
    if open_revs is not None:
        revs = arguments.open_revs("all" if open_revs == "all" else json_arg("open_revs"))
        atts_since = arguments.atts_since(json_arg("atts_since"))
        mixed = multipart.wants_mixed(request.headers.get("Accept", ""))
        if revs != "all" and flag("latest"):
            revs = list(
                dict.fromkeys(r if r in entry.leaves else _latest_rev(doc_id, r) for r in revs)
            )
        found = store.open_revs(
            doc_id,
            revs,  # type: ignore[arg-type]
            revs_history=flag("revs"),
            # The replicator's multipart read wants the attachments newer than atts_since
            # (CouchDB sends them in a multipart/mixed answer without being asked).
            attachments=flag("attachments") or mixed,
            atts_since=atts_since,
        )
        if not mixed:
            return reply(found)
        body, content_type = multipart.mixed(found)
        return Response(body, content_type=content_type)
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
    content_type = request.headers.get("Content-Type", "")
    doc = _related_body(content_type) if multipart.is_related(content_type) else json_body()
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


def _related_body(content_type: str) -> dict:
    """A document written with its attachments in a multipart/related body (CouchDB's
    replicator writes a document that has attachments so), attachments made inline."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if gzipped():
        raise BadRequest("a multipart/related body must not be gzipped as a whole")
    raw = request.get_data(cache=True)
    if request.content_length is None and len(raw) >= limit:
        raise TooLarge(f"request body is larger than the limit of {limit} bytes")
    return multipart.parse_related(raw, content_type, limit)


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
