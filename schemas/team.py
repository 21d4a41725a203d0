"""Team 队伍: county 总队 > township 分队 > village 小队."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

from .envelope import ReferenceEnvelope
from .fields import Choice, DocId, Int, Text, raise_if
from .messages import msg
from .places import place_level
from .validators import Range

TEAM_LEVELS: tuple[str, ...] = ("county", "township", "village")


class Team(ReferenceEnvelope):
    doc_type = "team"
    version = 1

    name = Text(max_length=100, required=True)
    level = Choice(TEAM_LEVELS, required=True)
    captain = DocId("user", required=True)
    member_count = Int(required=True, validate=Range(0, 100000))

    @validates_schema
    def _check_team(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["level"] != place_level(data["place"]):
            raise_if({"level": [msg("team_level_mismatch")]})
