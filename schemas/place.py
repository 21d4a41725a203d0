"""Place 地区: one node of the county > township > village > grid hierarchy."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

from .envelope import ReferenceEnvelope
from .fields import Choice, PlaceCode, Text, raise_if
from .messages import msg
from .places import PLACE_LEVELS, place_level, place_parent


class Place(ReferenceEnvelope):
    doc_type = "place"
    version = 1

    code = PlaceCode(required=True)
    name_zh = Text(max_length=100, required=True)
    name_en = Text(max_length=200, allow_none=True)
    level = Choice(PLACE_LEVELS, required=True)
    parent = PlaceCode(allow_none=True)

    @validates_schema
    def _check_place(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        code = data["code"]
        if data["level"] != place_level(code):
            errors["level"] = [msg("place_level_mismatch")]
        expected_parent = place_parent(code)
        if expected_parent is None:
            if data.get("parent") is not None:
                errors["parent"] = [msg("place_parent_forbidden")]
        elif data.get("parent") != expected_parent:
            errors["parent"] = [msg("place_parent_mismatch")]
        # A place document lives in its own subtree, so scoped readers get it.
        if data["place"] != code:
            errors["place"] = [msg("place_must_equal_code")]
        raise_if(errors)
