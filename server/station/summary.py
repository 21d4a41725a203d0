"""What the station page shows a lead, gathered from the hub's store and bookkeeping.

- Records of today and of this week (from Monday, in the station's time zone) by
  volunteer and type, by when they were recorded (`created_at`).
- What has not reached the county: records the station's tablets wrote here since the
  hub's last good round with the county began (a round sends everything written before
  it starts), from the hub's write log.
- What to pass on: rejection notices in the station (from the hub or the county) and
  records the county returned with a comment.
- Each tablet's last sync (gateway/devices.py) and the county's (server/hub/upstream.py
  keeps its rounds in the hub's `_local/fieldsync-upstream`).

Every document is read under the policy's place and personal-data rules for the lead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas import split_message

from ..accounts.users import User
from ..hub.station_work import last_good_round_start, written_since
from ..hub.upstream import read_status
from ..policy import PERSONAL_TYPES, RECORD_TYPES, in_scope, reads_personal
from ..services import Services

RECENT_ITEMS = 200  # the longest list the page shows; more are counted, not listed


@dataclass
class Counts:
    today: dict[str, int] = field(default_factory=dict)  # by record type
    week: dict[str, int] = field(default_factory=dict)


@dataclass
class Summary:
    scope: str
    now: datetime
    by_volunteer: dict[str, Counts]  # by author id ("user:xiaowang")
    names: dict[str, str]  # author id -> display name
    unsent: list[dict]
    unsent_count: int
    to_pass_on: list[dict]
    tablets: list[dict]
    county: dict


def gather(found: Services, lead: User, zone: str, now: datetime | None = None) -> Summary:
    tz = ZoneInfo(zone)
    now = (now or datetime.now(UTC)).astimezone(tz)
    today = now.date()
    monday = today - timedelta(days=today.weekday())
    readable = _readable(found, lead)
    names = {doc["_id"]: doc.get("display_name") or doc["_id"][5:]
             for doc in readable if doc.get("type") == "user"}  # fmt: skip
    by_volunteer: dict[str, Counts] = {}
    to_pass_on: list[dict] = []
    records = {}
    for doc in readable:
        kind = doc.get("type")
        if kind in RECORD_TYPES:
            records[doc["_id"]] = doc
            day = _local_day(doc.get("created_at"), tz)
            counts = by_volunteer.setdefault(str(doc.get("author")), Counts())
            if day is not None and day >= monday:
                counts.week[kind] = counts.week.get(kind, 0) + 1
                if day == today:
                    counts.today[kind] = counts.today.get(kind, 0) + 1
            review = doc.get("review") or {}
            if review.get("state") == "returned":
                to_pass_on.append(_returned(doc, review))
        elif kind == "rejection_notice":
            to_pass_on.append(_refused(doc))
    for item in to_pass_on:
        item["type"] = item["type"] or (records.get(item["doc_id"]) or {}).get("type")
    to_pass_on.sort(key=lambda item: str(item["at"]), reverse=True)
    county = read_status(found.store)
    unsent, unsent_count = _unsent(found, last_good_round_start(county), records)
    people = {doc_id[5:] for doc_id in names}
    tablets = [
        {"device": seen.device, "person": f"user:{seen.username}", "at": _iso(seen.at, tz)}
        for seen in found.devices.devices()
        if seen.username in people
    ]
    return Summary(lead.scope, now, by_volunteer, names, unsent, unsent_count,
                   to_pass_on[:RECENT_ITEMS], tablets, county)  # fmt: skip


def _returned(doc: dict, review: dict) -> dict:
    """A record the county sent back, with the reviewer's comment."""
    return {"kind": "returned", "doc_id": doc["_id"], "type": doc["type"],
            "person": doc.get("author"), "at": review.get("at"),
            "reasons": [split_message(review.get("comment") or "")]}  # fmt: skip


def _refused(notice: dict) -> dict:
    """A rejection notice (the hub's or the county's), with its reasons."""
    return {"kind": "refused", "doc_id": notice.get("about"), "type": None,
            "person": f"user:{notice.get('pushed_by')}", "at": notice.get("rejected_at"),
            "reasons": [split_message(r) for r in notice.get("reasons", [])]}  # fmt: skip


def _readable(found: Services, lead: User) -> list[dict]:
    personal = reads_personal(lead)
    return [
        row["doc"]
        for row in found.store.all_docs(include_docs=True)
        if in_scope(row["doc"].get("place"), lead.scope)
        and (personal or row["doc"].get("type") not in PERSONAL_TYPES)
    ]


def _unsent(found: Services, since: float, records: dict) -> tuple[list[dict], int]:
    """Records accepted here since the last good round began, newest first."""
    rows = written_since(found, since)
    mine = [(doc_id, name, at) for doc_id, name, at in rows if doc_id in records]
    listed = [{"doc_id": doc_id, "type": records[doc_id]["type"],
               "person": records[doc_id].get("author"), "at": at}
              for doc_id, _, at in mine[:RECENT_ITEMS]]  # fmt: skip
    return listed, len(mine)


def _local_day(value: object, tz: ZoneInfo):  # noqa: ANN202 - a date or None
    try:
        return datetime.fromisoformat(str(value)).astimezone(tz).date()
    except ValueError:
        return None


def _iso(epoch: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="seconds")
