"""The envelope every document type shares, as base schemas.

CouchDB's special members (`_rev`, `_deleted`, `_attachments`, ...) are not
fields here: the registry strips them before loading and restores them after,
so a stored document validates unchanged. `_id` is the one special member a
schema checks, because its type prefix must match `type`.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from marshmallow import Schema, validates_schema

from .fields import (
    SERVER_OWNED,
    AwareDateTime,
    Choice,
    DocId,
    Int,
    Location,
    Nested,
    PlaceCode,
    RuledSchema,
    Text,
    Token,
    raise_if,
)
from .ids import DOC_TYPES, generate_doc_id, new_doc_id, split_doc_id
from .messages import msg
from .places import FIELD_LEVELS, place_level, place_parent, place_within
from .validators import Range

__all__ = [
    "COUCHDB_SPECIAL_MEMBERS",
    "Envelope",
    "FieldRecordEnvelope",
    "ReferenceEnvelope",
    "Review",
    "fields_flagged",
    "generate_doc_id",
    "new_doc_id",
    "place_level",
    "place_parent",
    "place_within",
]

# Members CouchDB owns; `_id` is deliberately absent (the schema checks it).
COUCHDB_SPECIAL_MEMBERS: frozenset[str] = frozenset(
    {
        "_rev",
        "_deleted",
        "_attachments",
        "_revisions",
        "_revs_info",
        "_conflicts",
        "_deleted_conflicts",
        "_local_seq",
    }
)
REVIEW_STATES: tuple[str, ...] = ("pending", "approved", "returned")
DEVICE_PATTERN = r"[A-Za-z0-9_.:-]{1,64}"


class Review(RuledSchema):
    """County staff's verdict on a record; written by the server only."""

    state = Choice(REVIEW_STATES, required=True)
    by = DocId("user", allow_none=True)
    at = AwareDateTime(allow_none=True)
    comment = Text(max_length=1000, allow_none=True)

    rules = (
        {
            "rule": "required_when",
            "fields": ["by", "at"],
            "when": {"field": "state", "not_in": ["pending"]},
            "message": "review_needs_reviewer",
        },
        {
            "rule": "required_when",
            "fields": ["comment"],
            "when": {"field": "state", "in": ["returned"]},
            "message": "review_needs_comment",
        },
    )


class Envelope(RuledSchema):
    """Fields and rules common to every document type.

    Subclasses set `doc_type` and `version`, and override a field to tighten it
    (e.g. water sources make `location` required).
    """

    doc_type: ClassVar[str] = ""
    version: ClassVar[int] = 1

    doc_id = DocId(data_key="_id", required=True)
    type = Choice(DOC_TYPES, required=True)
    schema_version = Int(required=True, validate=Range(1))
    place = PlaceCode(required=True)
    station = DocId("station", required=True)
    team = DocId("team", allow_none=True)
    author = DocId("user", required=True)
    device = Token(DEVICE_PATTERN, "device_invalid", required=True)
    created_at = AwareDateTime(required=True)
    updated_at = AwareDateTime(required=True)
    location = Nested(Location, allow_none=True)
    # Set by the server on arrival and review; field roles may not set or change them.
    review = Nested(Review, allow_none=True, metadata=SERVER_OWNED)
    server_received_at = AwareDateTime(allow_none=True, metadata=SERVER_OWNED)

    rules = (
        {
            "rule": "at_least",
            "field": "updated_at",
            "than": "created_at",
            "message": "updated_before_created",
        },
    )

    # The document's kind and version are the app's own, never typed: not rules.
    @validates_schema
    def _check_envelope(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data["type"] != self.doc_type:
            errors["type"] = [msg("type_mismatch", expected=self.doc_type)]
        elif split_doc_id(data["doc_id"])[0] != data["type"]:
            errors["_id"] = [msg("id_prefix_mismatch")]
        if data["schema_version"] != self.version:
            errors["schema_version"] = [msg("version_mismatch", expected=self.version)]
        raise_if(errors)


class FieldRecordEnvelope(Envelope):
    """Records made in the field: they sit at village or grid level."""

    place = PlaceCode(required=True, levels=FIELD_LEVELS)


class ReferenceEnvelope(Envelope):
    """Reference data (place, team, station, user) need not belong to a station."""

    station = DocId("station", allow_none=True)


@functools.cache  # schemas are classes, fixed once imported: asked for every pushed document
def fields_flagged(schema_cls: type[Schema], flag: str) -> frozenset[str]:
    """Top-level document keys whose field metadata sets `flag` (e.g. "personal")."""
    names = set()
    for name, field in schema_cls._declared_fields.items():
        if field.metadata.get(flag):
            names.add(field.data_key or name)
    return frozenset(names)
