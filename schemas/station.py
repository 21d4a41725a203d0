"""Service station 服务站 or post 服务岗, covering some grids."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

from .envelope import ReferenceEnvelope
from .fields import Choice, DocId, List, PlaceCode, Text, raise_if
from .messages import msg
from .places import place_within
from .validators import Length, Unique

STATION_KINDS: tuple[str, ...] = ("station", "post")


class Station(ReferenceEnvelope):
    doc_type = "station"
    version = 1

    name = Text(max_length=100, required=True)
    kind = Choice(STATION_KINDS, required=True)
    lead = DocId("user", required=True)
    grids = List(PlaceCode(levels=("grid",)), allow_none=True, validate=[Length(max=500), Unique()])

    @validates_schema
    def _check_station(self, data: dict[str, Any], **kwargs: Any) -> None:
        outside = {
            index: [msg("grid_outside")]
            for index, grid in enumerate(data.get("grids") or [])
            if not place_within(grid, data["place"])
        }
        if outside:
            raise_if({"grids": outside})
