"""Water-source find 寻找水源. Photos are CouchDB attachments, not fields."""

from __future__ import annotations

from .envelope import FieldRecordEnvelope
from .fields import (
    AwareDateTime,
    BaseSchema,
    Choice,
    Date,
    Int,
    List,
    Location,
    Nested,
    Number,
    Text,
)
from .validators import Length, Range

WATER_KINDS: tuple[str, ...] = ("spring", "well", "stream", "pond", "reservoir", "other")
# found > assessed > piped / in_use > dry / abandoned
WATER_STATUSES: tuple[str, ...] = ("found", "assessed", "piped", "in_use", "dry", "abandoned")
PIPED_STATUSES: frozenset[str] = frozenset({"piped", "in_use"})


class WaterTest(BaseSchema):
    parameter = Text(max_length=50, required=True)
    value = Number(required=True)
    unit = Text(max_length=20, allow_none=True)
    tested_at = AwareDateTime(allow_none=True)


class Quality(BaseSchema):
    observations = Text(max_length=2000, allow_none=True)
    tests = List(Nested(WaterTest), allow_none=True, validate=Length(max=100))


class WaterSource(FieldRecordEnvelope):
    doc_type = "water_source"
    version = 1

    # A water source without a position cannot be found again.
    location = Nested(Location, required=True)
    kind = Choice(WATER_KINDS, required=True)
    estimated_flow_l_min = Number(allow_none=True, validate=Range(0))
    distance_km = Number(allow_none=True, validate=Range(0))
    terrain = Text(max_length=500, allow_none=True)
    quality = Nested(Quality, allow_none=True)
    households_served = Int(allow_none=True, validate=Range(0))
    people_served = Int(allow_none=True, validate=Range(0))
    status = Choice(WATER_STATUSES, required=True)
    pipe_length_m = Number(allow_none=True, validate=Range(0))
    found_on = Date(required=True)

    entry_rules = (
        {
            "rule": "not_after",
            "fields": ["found_on"],
            "than": "updated_at",
            "as": "local_date",
            "message": "in_the_future",
        },
    )
    rules = (
        {
            "rule": "at_least",
            "field": "people_served",
            "than": "households_served",
            "message": "people_below_households",
        },
        {
            "rule": "required_when",
            "fields": ["pipe_length_m"],
            "when": {"field": "status", "in": sorted(PIPED_STATUSES)},
            "message": "pipe_length_required",
        },
    )
