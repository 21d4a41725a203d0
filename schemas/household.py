"""Household 户: the family a home visit goes to. Holds personal data."""

from __future__ import annotations

from typing import Any

from .envelope import FieldRecordEnvelope
from .fields import PERSONAL, BaseSchema, Choice, Int, List, Nested, Text, Token
from .validators import Length, Range, Unique

VULNERABILITIES: tuple[str, ...] = (
    "elderly_alone",
    "disabled",
    "left_behind_child",
    "low_income",
    "sick",
    "other",
)
PHONE_PATTERN = r"[0-9]{5,20}"


def vulnerability_list(**kwargs: Any) -> List:
    """The vulnerability categories field, shared with home visits."""
    return List(Choice(VULNERABILITIES), validate=Unique(), **kwargs)


class Member(BaseSchema):
    name = Text(max_length=50, required=True)
    relation = Text(max_length=20, allow_none=True)
    birth_year = Int(allow_none=True, validate=Range(1900, 2100))
    vulnerability = vulnerability_list(allow_none=True)


class Household(FieldRecordEnvelope):
    doc_type = "household"
    version = 1

    household_no = Text(max_length=32, required=True)
    head_of_household = Text(max_length=50, required=True, metadata=PERSONAL)
    address = Text(max_length=200, required=True, metadata=PERSONAL)
    size = Int(required=True, validate=Range(1, 50))
    members = List(Nested(Member), allow_none=True, validate=Length(max=50), metadata=PERSONAL)
    phone = Token(PHONE_PATTERN, "phone_invalid", allow_none=True, metadata=PERSONAL)
    vulnerability = vulnerability_list(allow_none=True, metadata=PERSONAL)

    rules = (
        {
            "rule": "count_at_most",
            "field": "members",
            "than": "size",
            "message": "members_exceed_size",
        },
        # The record's own creation year bounds birth years: no clock read needed.
        {
            "rule": "each_at_most",
            "field": "members",
            "item": "birth_year",
            "than": "created_at",
            "as": "year",
            "message": "birth_year_future",
        },
    )
