"""Record states (field_client/README.md), derived from the local store, never stored.

One pass over the local changes feed gives every document once, at its newest local
sequence, with its winning body and conflicts: the records of this device's person, the
rejection notices that have arrived, and the conflicted documents. Nothing is asked per
document, so 20,000 local records cost one read of the feed.

A record's state is the first that applies, in this order:

    saved     its local sequence is above push_seq (changed since the last push)
    refused   a rejection notice about this very revision has arrived
    returned  review.state is "returned"
    approved  review.state is "approved"
    sent      none of these: the server holds this revision
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.export import EXPORTED_TYPES
from schemas.labels import TYPE_LABELS, Label
from sync.store import Seq, Store

from .local import Identity

STATES: tuple[str, ...] = ("saved", "refused", "returned", "approved", "sent")
STATE_LABELS: dict[str, Label] = {
    "saved": ("已保存在本机", "Saved on this device"),
    "refused": ("被退回（服务器拒收）", "Refused by the server"),
    "returned": ("审核退回", "Returned by the reviewer"),
    "approved": ("已通过审核", "Approved"),
    "sent": ("已发送", "Sent"),
}
RECORD_TYPES: tuple[str, ...] = EXPORTED_TYPES  # what a volunteer records
NOTICE_TYPE = "rejection_notice"
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class RecordView:
    """One record as the volunteer sees it."""

    doc_id: str
    doc_type: str
    state: str
    rev: str
    updated_at: str
    reasons: tuple[str, ...] = ()  # the server's, when refused
    comment: str | None = None  # the reviewer's, when returned
    conflicts: int = 0  # other live revisions kept beside this one

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.doc_id,
            "type": self.doc_type,
            "type_zh": TYPE_LABELS[self.doc_type][0],
            "state": self.state,
            "state_zh": STATE_LABELS[self.state][0],
            "rev": self.rev,
            "updated_at": self.updated_at,
            "reasons": list(self.reasons),
            "comment": self.comment,
            "conflicts": self.conflicts,
        }


@dataclass
class LocalView:
    """What the local store holds for its person, from one pass over its feed."""

    records: list[RecordView] = field(default_factory=list)  # newest first
    # Live notices about documents that are not among the records (another person's
    # record pushed from here, a count of refusals beyond the notice cap): still news.
    other_notices: list[dict[str, Any]] = field(default_factory=list)
    conflicted: dict[str, list[str]] = field(default_factory=dict)  # any doc id -> its revs

    def in_state(self, state: str) -> list[RecordView]:
        return [record for record in self.records if record.state == state]


def state_of(doc: Mapping[str, Any], seq: int, pushed: int, notice: Mapping | None) -> str:
    """The state of the winning revision `doc`, held at local sequence `seq`."""
    if seq > pushed:
        return "saved"
    if notice is not None and notice.get("rev") == doc.get("_rev"):
        return "refused"
    review = doc.get("review")
    review_state = review.get("state") if isinstance(review, Mapping) else None
    if review_state in ("returned", "approved"):
        return review_state
    return "sent"


def look(store: Store, who: Identity, pushed: Seq) -> LocalView:
    """Every record of `who` (authored by them, or made on this device) with its state."""
    mine: list[tuple[dict[str, Any], int]] = []
    notices: dict[str, dict[str, Any]] = {}
    view = LocalView()
    for row in store.changes(include_docs=True, conflicts=True):
        doc = row.get("doc")
        if row.get("deleted") or doc is None:
            continue
        if doc.get("_conflicts"):
            view.conflicted[doc["_id"]] = [doc["_rev"], *doc["_conflicts"]]
        doc_type = doc.get("type")
        if doc_type == NOTICE_TYPE and isinstance(doc.get("about"), str):
            notices[doc["about"]] = doc
        elif doc_type in RECORD_TYPES and who.user_id in (doc.get("author"), _maker(doc, who)):
            # The local store is a SqliteStore: its sequences are integers, in write order.
            mine.append((doc, int(row["seq"])))
    for doc, seq in mine:
        notice = notices.pop(doc["_id"], None)
        state = state_of(doc, seq, int(pushed), notice)
        review = doc.get("review") if isinstance(doc.get("review"), Mapping) else {}
        view.records.append(
            RecordView(
                doc_id=doc["_id"],
                doc_type=doc["type"],
                state=state,
                rev=doc["_rev"],
                updated_at=str(doc.get("updated_at", "")),
                reasons=tuple(notice.get("reasons") or ()) if state == "refused" else (),
                comment=review.get("comment") if state == "returned" else None,
                conflicts=len(doc.get("_conflicts") or ()),
            )
        )
    view.records.sort(key=lambda record: (_instant(record.updated_at), record.doc_id), reverse=True)
    view.other_notices = list(notices.values())
    return view


def _maker(doc: Mapping[str, Any], who: Identity) -> str | None:
    """A record made on this device counts as the person's own even when it names
    another author (a refusal of such a record must reach whoever typed it)."""
    return who.user_id if doc.get("device") == who.device else None


def _instant(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return _EARLIEST
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
