"""The push pipeline: what happens to the documents of one push (`_bulk_docs`, `PUT` or
`DELETE` of a document), in order:

1. Every entry must be an object with a string `_id`; any other gets a `bad_request`
   row of its own and goes no further.
2. The scope index catches up, in its own thread, with every change the store made
   before the push arrived, so scope and ownership are judged on what is there.
3. The schemas judge the documents (`validation.Validator`: in worker processes when
   the push is large), in parts as they are ready.
4. Each document is judged by the write policy (`server.policy.judge`) against its
   index entry, its current winning revision, the roster and the documents it refers
   to (read for the whole part at once); a replicated path that rewrites the stored
   history is refused too. References to documents not seen yet are accepted and
   recorded as unresolved.
5. A refused document is kept in the quarantine with its reasons and a rejection
   notice is written in the pusher's place; its row says `forbidden` and why.
6. The accepted documents of a part are written in one store call; a store refusal
   of one of them is kept like any other refusal.
7. An accepted document that had a rejection notice settles it.
8. The quarantine and the write log are committed in one transaction before the push
   is answered; the index reads what was written after the answer is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import Response, after_this_request, g

from schemas.rejection_notice import notice_id
from sync import revtree
from sync.errors import StoreError
from sync.store import Store

from ..accounts.auth import current_user, device_id
from ..accounts.users import User
from ..policy import Facts, in_scope, judge, may_read, people_of, references_of, user_id
from ..services import services
from .quarantine import HISTORY_REWRITTEN, Ledger, Pushed, clear_notice, write_notice
from .scope import IndexEntry, Member
from .validation import RequestBody, Verdict, is_formed


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
    index = services().scope
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
        facts = _PartFacts.gather(store, self.user, self.known, [doc for _, doc in part])
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
            judgement = judge(doc, self.user, facts.about(doc), judged)
            device = self.device or _device_of(doc)
            pushed = Pushed(doc, self.user, device, judged, tuple(judgement.unresolved))
            reasons = judgement.reasons
            if (
                not reasons
                and doc["_id"] in self.known
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
        with services().scope.writing(revisions):
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
        noticed = services().scope.live_ids(notices)
        landed = {}
        for (index, pushed), row, notice in zip(
            accepted, _rows_for(accepted, written, self.new_edits), notices, strict=True
        ):
            self.rows[index] = row
            if "error" not in row:
                landed[(row["id"], row["rev"])] = pushed.doc
                self.ledger.note(pushed, "accepted", row["rev"])
                if notice in noticed:
                    clear_notice(store, pushed)
            elif row["error"] == "conflict":
                self.ledger.note(pushed, "failed")  # an edit of an old revision: the caller retries
            else:
                # The store refused what arrival let through (a forged history, an attachment
                # not matching its digest, too large): kept like any refusal, since a
                # replicator never sends it again.
                self._refuse(pushed, [str(row.get("reason") or row["error"])])
        services().scope.remember(landed)

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


@dataclass(frozen=True)
class _PartFacts:
    """What the policy judges one part of a push against, read in a few batch queries:
    index entries, the live documents' winning revisions, the roster and references."""

    known: dict[str, IndexEntry]
    current: dict[str, dict]
    members: dict[str, Member]
    references: dict[str, IndexEntry]

    @classmethod
    def gather(
        cls, store: Store, user: User, known: dict[str, IndexEntry], docs: list[dict]
    ) -> _PartFacts:
        index = services().scope
        # Only documents the caller may see are read: any other is judged as new.
        live = [
            doc["_id"]
            for doc in docs
            if (entry := known.get(doc["_id"])) is not None
            and not entry.deleted
            and in_scope(entry.place, user.scope)
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
