"""Patrol 巡逻/巡查: who patrolled, where, when, and the incidents found."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .envelope import FieldRecordEnvelope
from .fields import (
    AwareDateTime,
    BaseSchema,
    Bool,
    Choice,
    DocId,
    List,
    Nested,
    Number,
    RuledSchema,
    Text,
)
from .validators import Length, Range, Unique

INCIDENT_KINDS: tuple[str, ...] = (
    "safety_hazard",
    "fraud",
    "dispute",
    "fire",
    "flood",
    "sanitation",
    "traffic",
    "other",
)
REFERRALS: tuple[str, ...] = ("police", "township", "clinic", "fire_brigade", "other")
# The "1310" response target: contact known within 1 minute, reached within 3,
# someone on site within 10. Each recorded time must not precede the one before.
RESPONSE_TIMES: tuple[str, ...] = ("reported_at", "contact_known_at", "reached_at", "on_site_at")
MAX_PATROL = dt.timedelta(hours=24)


class TrackPoint(BaseSchema):
    lat = Number(required=True, validate=Range(-90, 90))
    lon = Number(required=True, validate=Range(-180, 180))
    at = AwareDateTime(required=True)


class Incident(RuledSchema):
    kind = Choice(INCIDENT_KINDS, required=True)
    description = Text(max_length=2000, required=True)
    action_taken = Text(max_length=2000, allow_none=True)
    referred_to = Choice(REFERRALS, allow_none=True)
    resolved = Bool(required=True)
    reported_at = AwareDateTime(allow_none=True)
    contact_known_at = AwareDateTime(allow_none=True)
    reached_at = AwareDateTime(allow_none=True)
    on_site_at = AwareDateTime(allow_none=True)

    # Times may be partly recorded: each is compared with the latest earlier one given.
    rules = ({"rule": "in_order", "fields": list(RESPONSE_TIMES), "message": "time_order"},)


class Patrol(FieldRecordEnvelope):
    doc_type = "patrol"
    version = 2

    participants = List(DocId("user"), required=True, validate=[Length(1, 100), Unique()])
    zone = Text(max_length=200, allow_none=True)
    started_at = AwareDateTime(required=True)
    ended_at = AwareDateTime(required=True)
    track = List(Nested(TrackPoint), allow_none=True, validate=Length(max=20000))
    incidents = List(Nested(Incident), allow_none=True, validate=Length(max=200))

    entry_rules = (
        {
            "rule": "not_after",
            "fields": ["started_at", "ended_at"],
            "than": "updated_at",
            "message": "in_the_future",
        },
    )
    rules = (
        {
            "rule": "at_least",
            "field": "ended_at",
            "than": "started_at",
            "message": "ended_before_started",
        },
        {
            "rule": "within",
            "field": "ended_at",
            "of": "started_at",
            "seconds": int(MAX_PATROL.total_seconds()),
            "message": "patrol_too_long",
        },
    )


def _split_names(value: str) -> list[str]:
    for sep in ("、", "，"):
        value = value.replace(sep, ",")
    return [part.strip() for part in value.split(",") if part.strip()]


def upgrade_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Patrol v1 -> v2: `start`/`end` became `started_at`/`ended_at`, and
    `participants` was one string "user:a、user:b" (v1 forms also let people
    type bare usernames, which get the "user:" prefix).

    Leaves anything it does not recognise alone, so the v2 schema reports it.
    """
    out = dict(doc)
    for old, new in (("start", "started_at"), ("end", "ended_at")):
        if old in out and new not in out:
            out[new] = out.pop(old)
    participants = out.get("participants")
    if isinstance(participants, str):
        out["participants"] = [
            name if ":" in name else f"user:{name}" for name in _split_names(participants)
        ]
    return out
