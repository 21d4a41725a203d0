"""The push pipeline: what happens to the documents of one push (`_bulk_docs`, `PUT` or
`DELETE` of a document), in order:

1. A push of more than MAX_BULK_DOCS documents is refused whole (413), before anything
   is judged. Every entry must be an object with a string `_id`; any other gets a
   `bad_request` row of its own and goes no further.
2. The scope index catches up with every change the store made before the push
   arrived, so scope and ownership are judged on what is there.
3. The schemas judge the documents (`validation.verdict`).
4. Each document is judged by the write policy (`server.policy.judge`) against its
   index entry, its current winning revision, the roster and the documents it refers
   to (read for the whole push in a few queries); a replicated path that rewrites the
   stored history is refused too. A refused replicated revision the store already
   holds is no refusal: the push is a replay (a retry after a lost answer).
5. A flood is refused whole, with nothing written: more refusals than
   MAX_REFUSALS_PER_PUSH in one push (413: send smaller batches), or more than the
   device's REFUSALS_PER_HOUR (429 with Retry-After). One summary of it is kept for
   county staff instead of every document.
6. Each refused document is kept in the quarantine with its reasons and a rejection
   notice is written in the pusher's place (at most MAX_NOTICES_PER_USER live ones per
   user; beyond, one notice counts the rest); its row says `forbidden` and why.
7. The accepted documents are written, WRITE_PART to a store call; a store refusal of
   one of them is kept like any other refusal. An accepted document that had a
   rejection notice settles it.
8. The quarantine and the write log are committed in one transaction before the push
   is answered; the index reads what was written after the answer is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import Response, after_this_request, current_app, g

from schemas import msg
from schemas.rejection_notice import notice_id
from sync import revtree
from sync.errors import StoreError, TooLarge
from sync.store import Store

from ..accounts.auth import current_user, device_id
from ..accounts.users import User
from ..policy import (
    Facts,
    Judgement,
    in_scope,
    judge,
    may_read,
    people_of,
    references_of,
    user_id,
)
from ..services import services
from .quarantine import (
    HISTORY_REWRITTEN,
    Ledger,
    Notices,
    Pushed,
    TooManyRefusals,
    refused_recently,
    summarise_flood,
)
from .scope import IndexEntry, Member
from .validation import Verdict, is_formed, verdict

WRITE_PART = 500  # accepted documents per store call

MALFORMED_ROW = {
    "id": None,
    "error": "bad_request",
    "reason": "each document must be an object with a string _id",
}


def save_pushed(docs: Iterable[object], new_edits: bool) -> list[dict]:
    """Judge every pushed document; write the accepted ones, keep the refused ones in the
    quarantine. One row per document, in order."""
    config = current_app.config
    docs = list(docs)
    if len(docs) > int(config["MAX_BULK_DOCS"]):
        raise TooLarge(msg("push_too_many_docs", count=len(docs), limit=config["MAX_BULK_DOCS"]))
    push = _Push(current_user(), device_id(), new_edits, Ledger(new_edits))
    push.rows = [None if is_formed(doc) else dict(MALFORMED_ROW) for doc in docs]
    formed = [(index, doc) for index, doc in enumerate(docs) if is_formed(doc)]
    index = services().scope
    # Scope is judged on an index holding every change made before the push arrived.
    index.catch_up(needed_as_of=g.arrived)
    verdicts = [verdict(doc) for _, doc in formed]
    decisions = push.judge(formed, verdicts)
    push.refuse_floods(decisions, len(docs))
    try:
        push.keep(decisions)
    finally:
        # Also when a write failed (the store went away): what was already written and
        # refused is recorded, in the write log and the quarantine, before the answer.
        push.ledger.commit(services().ledger, services().db, services().ledger_index)
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


@dataclass(frozen=True)
class _Decision:
    index: int  # the document's place in the push
    pushed: Pushed
    reasons: list[str]  # empty: accepted


@dataclass
class _Push:
    """One push request: who sent it, what was decided, one row per document."""

    user: User
    device: str | None
    new_edits: bool
    ledger: Ledger
    rows: list[dict | None] = field(default_factory=list)

    def judge(self, formed: list[tuple[int, dict]], verdicts: list[Verdict]) -> list[_Decision]:
        """The policy's decision on every formed document, in order."""
        store = services().store
        facts = _PushFacts.gather(store, self.user, [doc for _, doc in formed])
        judged_all = []
        for (index, doc), judged in zip(formed, verdicts, strict=True):
            judgement: Judgement = judge(doc, self.user, facts.about(doc), judged)
            reasons = judgement.reasons
            if not reasons and not self.new_edits and doc["_id"] in facts.known:
                if _rewrites_history(doc):
                    reasons = [HISTORY_REWRITTEN]
            judged_all.append((index, doc, judged, judgement.unresolved, reasons))
        # A reference to a document accepted in this same push (a new household and its
        # first visit) is no unresolved one.
        arriving = {doc["_id"] for _, doc, _, _, reasons in judged_all if not reasons}
        decisions = []
        for index, doc, judged, unresolved, reasons in judged_all:
            device = self.device or _device_of(doc)
            still = tuple(ref for ref in unresolved if ref[1] not in arriving)
            existed = doc["_id"] in facts.known
            pushed = Pushed(doc, self.user, device, judged, still, existed)
            decisions.append(_Decision(index, pushed, reasons))
        return self._replays_accepted(store, decisions, facts.known)

    def _replays_accepted(
        self, store: Store, decisions: list[_Decision], known: dict[str, IndexEntry]
    ) -> list[_Decision]:
        """A refused replicated revision the store already holds was accepted before (this
        push is a retry after a lost answer): writing it changes nothing, so it is not
        refused against a winner that moved on since. Only documents the caller may read
        are asked about; for any other the answer must not tell."""
        if self.new_edits:
            return decisions
        held: dict[int, tuple[str, str]] = {}  # decision's position -> (id, revision)
        for position, decision in enumerate(decisions):
            doc = decision.pushed.doc
            entry = known.get(doc["_id"])
            if (
                not decision.reasons
                or decision.reasons == [HISTORY_REWRITTEN]  # a forged path is kept as ever
                or entry is None
                or not may_read(self.user, entry)
            ):
                continue
            try:
                held[position] = (doc["_id"], revtree.normalize_rev(doc.get("_rev")))
            except StoreError:
                continue  # a malformed _rev: refused like any other
        if not held:
            return decisions
        asked: dict[str, list[str]] = {}
        for doc_id, rev in held.values():
            asked.setdefault(doc_id, []).append(rev)
        missing = store.revs_diff(asked)
        replays = {
            position
            for position, (doc_id, rev) in held.items()
            if rev not in missing.get(doc_id, {}).get("missing", ())
            # a path that gives a held revision another parent is a forgery, not a replay
            and not _rewrites_history(decisions[position].pushed.doc)
        }
        return [
            _Decision(d.index, d.pushed, []) if position in replays else d
            for position, d in enumerate(decisions)
        ]

    def refuse_floods(self, decisions: list[_Decision], pushed: int) -> None:
        """Refuse the whole push, writing nothing, when it would refuse more than a push
        or the device may: TooLarge (413) or TooManyRefusals (429)."""
        config = current_app.config
        refused = [d for d in decisions if d.reasons]
        if not refused:
            return
        limit = int(config["MAX_REFUSALS_PER_PUSH"])
        ledger = services().ledger
        if len(refused) > limit:
            summarise_flood(
                ledger, self.user, self.device, pushed, [d.reasons for d in refused], 413
            )
            raise TooLarge(msg("push_too_many_refused", count=len(refused), limit=limit))
        hourly = int(config["REFUSALS_PER_HOUR"])
        recent, retry_after = refused_recently(
            services().ledger_index, self.user, self.device, time.time()
        )
        if recent + len(refused) > hourly:
            summarise_flood(
                ledger, self.user, self.device, pushed, [d.reasons for d in refused], 429
            )
            raise TooManyRefusals(
                msg("push_refusal_budget", limit=hourly, minutes=-(-retry_after // 60)),
                retry_after=retry_after,
            )

    def keep(self, decisions: list[_Decision]) -> None:
        """Quarantine the refused documents, write the accepted ones."""
        notices = Notices(services().store, services().db, current_app.config)
        accepted = []
        for decision in decisions:
            if decision.reasons:
                self._refuse(notices, decision.index, decision.pushed, decision.reasons)
            else:
                accepted.append(decision)
        for start in range(0, len(accepted), WRITE_PART):
            self._write(notices, accepted[start : start + WRITE_PART])

    def _write(self, notices: Notices, accepted: list[_Decision]) -> None:
        store, index = services().store, services().scope
        docs = [d.pushed.doc for d in accepted]
        # Replicated revisions keep their ids: the index may meet them before the write
        # returns (another push's catch-up) and take their bodies from here.
        revisions = {
            (doc["_id"], doc["_rev"]): doc
            for doc in docs
            if not self.new_edits and isinstance(doc.get("_rev"), str)
        }
        with index.writing(revisions):
            written = _write(store, docs, self.new_edits)
        # Only documents that have a live notice need one cleared: one index query, not
        # a store read per document.
        noticed = index.live_ids([notice_id(doc["_id"]) for doc in docs])
        landed = {}
        for decision, row in zip(accepted, _rows_for(docs, written, self.new_edits), strict=True):
            pushed = decision.pushed
            if "error" not in row:
                self.rows[decision.index] = row
                landed[(row["id"], row["rev"])] = pushed.doc
                self.ledger.note(pushed, "accepted", row["rev"])
                if notice_id(pushed.doc["_id"]) in noticed:
                    notices.clear(pushed)
            elif row["error"] == "conflict":
                self.rows[decision.index] = row
                self.ledger.note(pushed, "failed")  # an edit of an old revision: retried
            else:
                # The store refused what the policy let through (a forged history, an
                # attachment not matching its digest, too large): kept like any refusal,
                # since a replicator never sends it again.
                reason = str(row.get("reason") or row["error"])
                self._refuse(notices, decision.index, pushed, [reason])
        index.remember(landed)

    def _refuse(self, notices: Notices, index: int, pushed: Pushed, reasons: list[str]) -> None:
        self.rows[index] = {
            "id": pushed.doc["_id"],
            "error": "forbidden",
            "reason": " | ".join(reasons),
        }
        self.ledger.refuse(pushed, reasons)
        notices.write(pushed, reasons)


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


def _rows_for(docs: list[dict], written: list[dict], new_edits: bool) -> list[dict]:
    if new_edits:
        return written
    failures = {row.get("id"): row for row in written}
    # Not a .get default: that is built even for a failure, and a refused document may
    # have no _rev at all.
    return [
        failures.get(doc["_id"]) or {"ok": True, "id": doc["_id"], "rev": doc["_rev"]}
        for doc in docs
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


@dataclass(frozen=True)
class _PushFacts:
    """What the policy judges a push against, read in a few batch queries: index entries,
    the live documents' winning revisions, the roster and the referenced documents."""

    known: dict[str, IndexEntry]
    current: dict[str, dict]
    members: dict[str, Member]
    references: dict[str, IndexEntry]

    @classmethod
    def gather(cls, store: Store, user: User, docs: list[dict]) -> _PushFacts:
        index = services().scope
        known = index.lookup_many(list({doc["_id"] for doc in docs}))
        # Only documents the caller may see are read: any other is judged as new.
        live = [
            doc_id
            for doc_id, entry in known.items()
            if not entry.deleted and in_scope(entry.place, user.scope)
        ]
        current = {
            row["id"]: row["doc"]
            for row in (store.all_docs(keys=live, include_docs=True) if live else [])
            if row.get("doc")
        }
        people = {user_id(user)}
        refs: set[str] = set()
        for doc in docs:
            people.update(people_of(doc))
            refs.update(ref_id for _, ref_id, _ in references_of(doc))
        members = index.members(sorted(people))
        return cls(known, current, members, index.lookup_many(sorted(refs)) if refs else {})

    def about(self, doc: dict) -> Facts:
        doc_id = doc["_id"]
        return Facts(
            self.known.get(doc_id), self.current.get(doc_id), self.members, self.references
        )


def _device_of(doc: dict) -> str | None:
    device = doc.get("device")
    return device[:64] if isinstance(device, str) else None
