"""Home visit 入户走访/走访慰问/上门服务. Holds personal data of vulnerable people."""

from __future__ import annotations

from typing import Any

from .envelope import FieldRecordEnvelope
from .fields import (
    PERSONAL,
    AwareDateTime,
    BaseSchema,
    Choice,
    Date,
    DocId,
    Int,
    List,
    Nested,
    Number,
    RuledSchema,
    Text,
    Token,
)
from .household import vulnerability_list
from .validators import Length, Range, Unique

SERVICES: tuple[str, ...] = (
    "haircut",
    "cleaning",
    "medicine",
    "health_check",
    "temperature",
    "policy_explanation",
    "legal_aid",
    "paperwork",
    "other",
)
URGENCIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
NEED_STATUSES: tuple[str, ...] = ("open", "in_progress", "met", "closed")
# Systolic/diastolic in mmHg; plausibility is checked in Health.
BLOOD_PRESSURE_PATTERN = r"[0-9]{2,3}/[0-9]{2,3}"
NEED_ID_PATTERN = r"[A-Za-z0-9_.:-]{1,64}"


class Health(RuledSchema):
    temperature_c = Number(allow_none=True, validate=Range(34, 43))
    blood_pressure = Token(BLOOD_PRESSURE_PATTERN, "blood_pressure_invalid", allow_none=True)

    rules = (
        {
            "rule": "parts_decreasing",
            "field": "blood_pressure",
            "separator": "/",
            "message": "blood_pressure_invalid",
        },
    )


class Need(BaseSchema):
    """One item of the needs list 需求清单 / micro-wish 微心愿.

    `need_id` is stable across edits so a later merge rule can match items.
    """

    need_id = Token(NEED_ID_PATTERN, "token_invalid", required=True)
    category = Text(max_length=50, required=True)
    description = Text(max_length=2000, required=True)
    urgency = Choice(URGENCIES, required=True)
    status = Choice(NEED_STATUSES, required=True)


class FollowUp(BaseSchema):
    due_on = Date(required=True)
    assignee = DocId("user", required=True)
    note = Text(max_length=1000, allow_none=True)


class HomeVisit(FieldRecordEnvelope):
    doc_type = "home_visit"
    version = 2

    household = DocId("household", required=True)
    visited_at = AwareDateTime(required=True)
    duration_min = Int(required=True, validate=Range(1, 1440))
    volunteers = List(DocId("user"), required=True, validate=[Length(1, 50), Unique()])
    vulnerability = vulnerability_list(allow_none=True, metadata=PERSONAL)
    services = List(Choice(SERVICES), allow_none=True, validate=Unique())
    health = Nested(Health, allow_none=True, metadata=PERSONAL)
    needs = List(
        Nested(Need),
        allow_none=True,
        validate=[
            Length(max=50),
            Unique(by="need_id", message="duplicate_need_id"),
        ],
        metadata=PERSONAL,
    )
    follow_up = Nested(FollowUp, allow_none=True, metadata=PERSONAL)

    entry_rules = (
        {
            "rule": "not_after",
            "fields": ["visited_at"],
            "than": "updated_at",
            "message": "in_the_future",
        },
    )
    rules = (
        {
            "rule": "any_of",
            "fields": ["services", "needs"],
            "at": "services",
            "message": "services_or_needs",
        },
        # Against the visit's local date, in the offset the tablet recorded.
        {
            "rule": "at_least",
            "field": "follow_up.due_on",
            "than": "visited_at",
            "as": "local_date",
            "message": "follow_up_before_visit",
        },
    )


def _split_services(value: str) -> list[str]:
    for sep in ("、", "，"):
        value = value.replace(sep, ",")
    return [part.strip() for part in value.split(",") if part.strip()]


def upgrade_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Home visit v1 -> v2: `services` was "haircut,cleaning" and `visit_time`
    became `visited_at`. Unrecognised shapes are left for the v2 schema to report."""
    out = dict(doc)
    if "visit_time" in out and "visited_at" not in out:
        out["visited_at"] = out.pop("visit_time")
    if isinstance(out.get("services"), str):
        out["services"] = _split_services(out["services"])
    return out
