"""Water-source find 寻找水源. Photos are CouchDB attachments, not fields."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

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
    raise_if,
)
from .messages import msg
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

    @validates_schema
    def _check_water_source(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        households, people = data.get("households_served"), data.get("people_served")
        if households is not None and people is not None and people < households:
            errors["people_served"] = [msg("people_below_households")]
        if data["status"] in PIPED_STATUSES and data.get("pipe_length_m") is None:
            errors["pipe_length_m"] = [msg("pipe_length_required")]
        raise_if(errors)
