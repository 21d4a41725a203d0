"""The CouchDB-compatible database each user replicates with: ``/db/``.

One logical database per caller: every read is limited to the caller's place
scope and role (home visits and households only to the roles allowed), every
write goes through `arrival` (authorize, upgrade, validate, keep or
quarantine). PouchDB and our replicator sync with it unchanged. Documents are
looked up in the scope index before they are read, and a document the caller
may not see is answered exactly like one that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import Blueprint, Response, after_this_request, current_app, g, request

from schemas.rejection_notice import notice_id
from sync import revtree
from sync.documents import check_doc_id
from sync.errors import BadRequest, Forbidden, NotFound, StoreError
from sync.store import Store

from . import local_docs
from .arrival import (
    HISTORY_REWRITTEN,
    Ledger,
    Pushed,
    clear_notice,
    reasons_to_refuse,
    write_notice,
)
from .auth import current_user, device_id, login_required
from .http_io import flag, gzipped, int_arg, json_arg, json_body, reply, store_error
from .scope import IndexEntry, ScopeIndex
from .services import services
from .users import User
from .validation import RequestBody, Verdict, is_formed

bp = Blueprint("gateway", __name__, url_prefix="/db")
bp.register_error_handler(StoreError, store_error)

PERSONAL_ROLES = frozenset({"volunteer", "station_lead", "county_staff"})  # not IT admins
CHANGES_PAGE = 1000


def scope_index() -> ScopeIndex:
    return services().scope


def may_read(user: User, entry: IndexEntry) -> bool:
    """Inside the caller's place subtree, and personal data only to the roles allowed."""
    in_scope = entry.place.startswith(user.scope) if entry.place else False
    return in_scope and (not entry.personal or user.role in PERSONAL_ROLES)


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
    seq = scope_index().last_seq(user.scope, personal=user.role in PERSONAL_ROLES)
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
        since_seq = scope_index().last_seq(user.scope, personal=user.role in PERSONAL_ROLES)
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
        while not entries and time.monotonic() < deadline:
            time.sleep(0.5)
            scope_index().catch_up()
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
        user.scope, since, limit, personal=user.role in PERSONAL_ROLES, doc_ids=doc_ids
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


def save_pushed(
    docs: Iterable[object], new_edits: bool, body: RequestBody | None = None
) -> list[dict]:
    """Judge every pushed document; write the accepted ones, keep the refused ones in the
    quarantine. One row per document, in order. `body`: the request `docs` came in, when
    they are its `docs` member as sent (the schemas may judge them from it)."""
    push = _Push(current_user(), device_id(), new_edits, Ledger(new_edits))
    docs = list(docs)
    push.rows = [None if is_formed(doc) else dict(MALFORMED_ROW) for doc in docs]
    formed = [(index, doc) for index, doc in enumerate(docs) if is_formed(doc)]
    # Whether a document is in the caller's scope is judged on an index holding every
    # change made before the push arrived; the store is asked for those while the
    # schemas judge the first part (the wait is mostly the store's, not ours).
    index = scope_index()
    caught_up = index.catch_up_meanwhile(needed_as_of=g.arrived)
    # The schemas judge the batch in parts (in worker processes when it is large); each
    # part is written once judged, while the workers go on with the next.
    done = 0
    try:
        parts = services().validator.verdict_parts([doc for _, doc in formed], body)
        for number, verdicts in enumerate(parts):
            if number == 0:
                caught_up.result()
                push.known = index.lookup_many(list({doc["_id"] for _, doc in formed}))
            push.save(formed[done : done + len(verdicts)], verdicts)
            done += len(verdicts)
    finally:
        # Also when a later part failed (the store went away): the parts already written
        # and refused are recorded, in the write log and the quarantine, before the answer.
        push.ledger.commit(services().db)
    # The index learns what was written once the answer is on its way: the replicator
    # goes on meanwhile, and any request that reads the index first waits for this.
    written_by = time.monotonic()  # a catch-up begun after this has what this push wrote
    after_this_request(_after_response(lambda: index.catch_up(needed_as_of=written_by)))
    return push.rows  # type: ignore[return-value]


def _after_response(work: Callable[[], object]) -> Callable[[Response], Response]:
    """For `after_this_request`: run `work` after the response has been sent."""

    def register(response: Response) -> Response:
        response.call_on_close(work)
        return response

    return register


MALFORMED_ROW = {
    "id": None,
    "error": "bad_request",
    "reason": "each document must be an object with a string _id",
}


@dataclass
class _Push:
    """One push request: who sent it, what was decided so far, one row per document."""

    user: User
    device: str | None
    new_edits: bool
    ledger: Ledger
    rows: list[dict | None] = field(default_factory=list)
    known: dict[str, IndexEntry] = field(default_factory=dict)  # index entries by id

    def save(self, part: list[tuple[int, dict]], verdicts: list[Verdict]) -> None:
        """Judge and write one part of the batch: its accepted documents in one store call."""
        store = services().store
        held = self._held(store, part)
        accepted: list[tuple[int, Pushed]] = []
        for (index, doc), judged in zip(part, verdicts, strict=True):
            if (
                isinstance(doc.get("_rev"), str)
                and (doc["_id"], doc["_rev"]) in held
                and not _rewrites_history(doc)  # a forged path is refused and kept as ever
            ):
                # Writing it would change nothing: it is neither judged again (against a
                # winner that may have moved on since, e.g. reviewed) nor logged twice.
                self.rows[index] = {"ok": True, "id": doc["_id"], "rev": doc["_rev"]}
                continue
            pushed = Pushed(doc, self.user, self.device or _device_of(doc), judged)
            existing = self.known.get(doc["_id"])
            current = _current(doc["_id"]) if existing else None
            reasons = reasons_to_refuse(pushed, existing, current)
            if (
                not reasons
                and existing is not None
                and not self.new_edits
                and _rewrites_history(doc)
            ):
                reasons = [HISTORY_REWRITTEN]
            if reasons:
                self._refuse(pushed, reasons)
                self.rows[index] = {
                    "id": doc["_id"],
                    "error": "forbidden",
                    "reason": " | ".join(reasons),
                }
            else:
                accepted.append((index, pushed))
        if not accepted:
            return
        # Replicated revisions keep their ids: the index may meet them before the write
        # returns (another push's catch-up) and take their bodies from here.
        revisions = {
            (p.doc["_id"], p.doc["_rev"]): p.doc
            for _, p in accepted
            if not self.new_edits and isinstance(p.doc.get("_rev"), str)
        }
        with scope_index().writing(revisions):
            self._write_accepted(store, accepted)

    def _held(self, store: Store, part: list[tuple[int, dict]]) -> set[tuple[str, str]]:
        """The replicated revisions of `part` the store already holds (a replayed push, or
        one that `_revs_diff` answered as missing before the index had read it), among
        documents the caller may read: for any other, the answer must not tell."""
        if self.new_edits:
            return set()
        sent: dict[tuple[str, str], str] = {}  # (id, _rev as sent) -> the revision
        for _, doc in part:
            entry = self.known.get(doc["_id"])
            if (
                entry is None
                or not may_read(self.user, entry)
                or not isinstance(doc.get("_rev"), str)
            ):
                continue
            try:
                sent[(doc["_id"], doc["_rev"])] = revtree.normalize_rev(doc["_rev"])
            except StoreError:
                continue  # a malformed _rev: judged, and refused, like any other
        asked: dict[str, list[str]] = {}
        for (doc_id, _), rev in sent.items():
            asked.setdefault(doc_id, []).append(rev)
        missing = store.revs_diff(asked) if asked else {}
        return {
            key
            for key, rev in sent.items()
            if rev not in missing.get(key[0], {}).get("missing", ())
        }

    def _write_accepted(self, store: Store, accepted: list[tuple[int, Pushed]]) -> None:
        written = _write(store, [p.doc for _, p in accepted], self.new_edits)
        # Only documents that have a live notice need one cleared: one index query, not
        # a store read per document.
        notices = [notice_id(p.doc["_id"]) for _, p in accepted]
        noticed = scope_index().live_ids(notices)
        landed = {}
        for (index, pushed), row, notice in zip(
            accepted, _rows_for(accepted, written, self.new_edits), notices, strict=True
        ):
            self.rows[index] = row
            if "error" not in row:
                landed[(row["id"], row["rev"])] = pushed.doc
                self.ledger.note(pushed, "accepted")
                if notice in noticed:
                    clear_notice(store, pushed)
            elif row["error"] == "conflict":
                self.ledger.note(pushed, "failed")  # an edit of an old revision: the caller retries
            else:
                # The store refused what arrival let through (a forged history, an attachment
                # not matching its digest, too large): kept like any refusal, since a
                # replicator never sends it again.
                self._refuse(pushed, [str(row.get("reason") or row["error"])])
        scope_index().remember(landed)

    def _refuse(self, pushed: Pushed, reasons: list[str]) -> None:
        self.ledger.refuse(pushed, reasons)
        write_notice(services().store, pushed, reasons)


def _write(store: Store, docs: list[dict], new_edits: bool) -> list[dict]:
    """The store's rows for `docs`. A refusal of the whole request (CouchDB answers a missing
    attachment stub with a 412 for the batch) is narrowed down to the documents causing it,
    by writing them one at a time: every document is judged, and kept, on its own."""
    try:
        # Every document came from a request body, already checked to be plain JSON.
        return store.bulk_docs(docs, new_edits=new_edits, plain_json=True)
    except StoreError as exc:
        if exc.status not in (400, 412, 413):
            raise  # the store is unreachable, refuses us or is missing: not the documents' fault
        if len(docs) == 1:
            return [{"id": docs[0].get("_id"), "error": exc.error, "reason": exc.reason}]
        return [row for doc in docs for row in _write(store, [doc], new_edits)]


def _rows_for(
    accepted: list[tuple[int, Pushed]], written: list[dict], new_edits: bool
) -> list[dict]:
    if new_edits:
        return written
    failures = {row.get("id"): row for row in written}
    # Not a .get default: that is built even for a failure, and a refused document may
    # have no _rev at all.
    return [
        failures.get(p.doc["_id"]) or {"ok": True, "id": p.doc["_id"], "rev": p.doc["_rev"]}
        for _, p in accepted
    ]


def _rewrites_history(doc: dict) -> bool:
    """Whether a replicated path gives a revision the store holds another parent. The
    embedded store refuses such a path itself; CouchDB merges paths by revision id and then
    shows the forged parent as the known revision's history, so it is checked here."""
    try:
        path = revtree.path_from_revisions(doc["_revisions"]) if "_revisions" in doc else []
    except StoreError:
        return False  # malformed: the store refuses it, saying why
    parents: dict[str, str] = {}
    for leaf in services().store.open_revs(doc["_id"], "all"):
        if "ok" in leaf:
            history = revtree.path_from_revisions(leaf["ok"]["_revisions"])
            parents.update(zip(history, history[1:], strict=False))
    pairs = zip(path, path[1:], strict=False)
    return any(parents.get(rev, parent) != parent for rev, parent in pairs)


def _current(doc_id: str) -> dict | None:
    try:
        return services().store.get(doc_id)
    except NotFound:
        return None


def _device_of(doc: dict) -> str | None:
    device = doc.get("device")
    return device[:64] if isinstance(device, str) else None


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
    entries = scope_index().listing(
        user.scope, str(start), limit, personal=user.role in PERSONAL_ROLES
    )
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
