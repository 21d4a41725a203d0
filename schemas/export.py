"""The schemas as data, for the tablet's validator (`field_client`'s validator.js).

`export_schemas()` describes every type a volunteer records: each schema's fields (kind,
required, nullable, bounds, lengths, patterns, vocabularies with Chinese and English
labels), its cross-field rules exactly as declared (`schemas/rules.py`), and the message
catalogue. The browser interprets this description and gives the verdicts and messages
marshmallow gives here (`tests/test_validator_parity.py` holds both ends to that), so a
rule or a bound changed in `schemas/` reaches the tablet with no JavaScript edit.

What the interpreter knows itself, as Python's field classes know it: how each field
kind parses (text normalisation, ISO dates and times, ids, place codes) and how each
rule kind compares. A field kind or a schema hook it does not know is refused here,
when exporting, never skipped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import string
from typing import Any

from marshmallow import Schema
from marshmallow import fields as mm_fields

from . import ids, places
from .envelope import COUCHDB_SPECIAL_MEMBERS, Envelope
from .fields import (
    AwareDateTime,
    Bool,
    Choice,
    Date,
    DocId,
    Int,
    List,
    Nested,
    Number,
    PlaceCode,
    RuledSchema,
    Text,
    Token,
)
from .labels import CHOICE_LABELS, TYPE_LABELS, field_label
from .messages import MESSAGES
from .places import level_names
from .registry import CURRENT_VERSIONS, schema_for
from .validators import Length, Range, Unique

FORMAT = 1
# The types a tablet writes; reference data (places, teams, users) is admin data.
EXPORTED_TYPES: tuple[str, ...] = ("patrol", "water_source", "home_visit", "household")
# Schema hooks the interpreter reproduces: the rules, and the envelope's type/version.
_KNOWN_HOOKS = frozenset({"_check_rules", "_check_envelope"})


def _params(**values: Any) -> dict[str, str]:
    """Message parameters as Python formats them (str()), so both ends print the same."""
    return {name: str(value) for name, value in values.items()}


def _validator(validator: Any) -> dict[str, Any]:
    if isinstance(validator, Range):
        return {
            "check": "range",
            "min": validator.min,
            "max": validator.max,
            "min_exclusive": validator.min_exclusive,
            "params": _params(
                **({} if validator.min is None else {"min": validator.min}),
                **({} if validator.max is None else {"max": validator.max}),
            ),
        }
    if isinstance(validator, Length):
        return {"check": "length", "min": validator.min, "max": validator.max}
    if isinstance(validator, Unique):
        return {"check": "unique", "by": validator.by, "message": validator.message}
    raise ValueError(f"no export for the validator {validator!r}")


def _kind(field: mm_fields.Field, schemas: dict[str, Any]) -> dict[str, Any]:
    """The kind-specific part of a field's description (order matters: Token is a Text)."""
    if isinstance(field, Token):
        return {
            "kind": "token",
            "max_length": field.max_length,
            "allow_blank": field.allow_blank,
            "pattern": field.pattern.pattern,
            "message": field.message,
        }
    if isinstance(field, Text):
        return {"kind": "text", "max_length": field.max_length, "allow_blank": field.allow_blank}
    if isinstance(field, Choice):
        missing = [value for value in field.choices if value not in CHOICE_LABELS]
        if missing:
            raise ValueError(f"no label for the choices {missing}")
        return {
            "kind": "choice",
            "choices": [
                {"value": value, "zh": CHOICE_LABELS[value][0], "en": CHOICE_LABELS[value][1]}
                for value in field.choices
            ],
            "params": _params(
                choices_zh="、".join(field.choices), choices=", ".join(field.choices)
            ),
        }
    if isinstance(field, DocId):
        return {"kind": "doc_id", "doc_type": field.doc_type}
    if isinstance(field, PlaceCode):
        return {
            "kind": "place_code",
            "levels": list(field.levels),
            "params": level_names(field.levels),
        }
    if isinstance(field, List):
        return {"kind": "list", "item": _field(field.inner, schemas, item=True)}
    if isinstance(field, Nested):
        return {"kind": "object", "schema": _schema(field.nested, schemas)}
    simple = {Int: "int", Number: "number", Bool: "bool", Date: "date", AwareDateTime: "datetime"}
    for cls, kind in simple.items():
        if type(field) is cls:
            return {"kind": kind}
    raise ValueError(f"no export for the field kind {type(field).__name__}")


def _field(
    field: mm_fields.Field, schemas: dict[str, Any], *, item: bool = False
) -> dict[str, Any]:
    described: dict[str, Any] = {
        **_kind(field, schemas),
        "required": field.required,
        "allow_none": field.allow_none,
        "validators": [_validator(validator) for validator in field.validators],
    }
    if not item:
        described["personal"] = bool(field.metadata.get("personal"))
        described["server_owned"] = bool(field.metadata.get("server_owned"))
    return described


def _hooks(schema_cls: type[Schema]) -> set[str]:
    return {
        name
        for name in dir(schema_cls)
        if getattr(getattr(schema_cls, name), "__marshmallow_hook__", None)
    }


def _schema(schema_cls: type[Schema], schemas: dict[str, Any]) -> str:
    """Describe `schema_cls` (and the schemas it nests) into `schemas`; its name."""
    name = schema_cls.__name__
    if name in schemas:
        if schemas[name]["_class"] is not schema_cls:
            raise ValueError(f"two schemas are named {name}")
        return name
    unknown_hooks = _hooks(schema_cls) - _KNOWN_HOOKS
    if unknown_hooks:
        raise ValueError(
            f"{name}: hooks {sorted(unknown_hooks)} are Python only; declare them as rules"
        )
    schemas[name] = {"_class": schema_cls}
    fields = []
    for attr, field in schema_cls._declared_fields.items():
        key = field.data_key or attr
        label = field_label(name, key)
        if label is None:
            raise ValueError(f"{name}.{key} has no label in schemas/labels.py")
        described_field = {"name": key, "zh": label[0], "en": label[1], **_field(field, schemas)}
        if key != attr:  # rules name fields by attribute (`_id` is `doc_id`)
            described_field["attr"] = attr
        fields.append(described_field)
    described: dict[str, Any] = {"_class": schema_cls, "fields": fields}
    if issubclass(schema_cls, RuledSchema):
        described["rules"] = [dict(rule) for rule in schema_cls.all_rules]
        if schema_cls.entry_rules:
            described["entry_rules"] = [dict(rule) for rule in schema_cls.entry_rules]
    if issubclass(schema_cls, Envelope):
        described["envelope"] = {"doc_type": schema_cls.doc_type, "version": schema_cls.version}
    schemas[name] = described
    return name


def describe_schemas(schema_cls: type[Schema]) -> dict[str, Any]:
    """`schema_cls` and every schema it nests, by name, as the export describes them."""
    schemas: dict[str, Any] = {}
    _schema(schema_cls, schemas)
    for described in schemas.values():
        del described["_class"]
    return schemas


def _messages() -> dict[str, list[str]]:
    """The catalogue; the tablet fills in `{name}` only, so a format spec is refused."""
    for key, halves in MESSAGES.items():
        for half in halves:
            for _, name, spec, conversion in string.Formatter().parse(half):
                if name is not None and (spec or conversion or not name.isidentifier()):
                    raise ValueError(f"message {key}: the tablet fills in {{name}} only")
    return {key: list(halves) for key, halves in MESSAGES.items()}


@functools.cache
def export_schemas() -> dict[str, Any]:
    """The description the tablet's validator reads (JSON-ready; `digest` names it)."""
    schemas: dict[str, Any] = {}
    types = {}
    for doc_type in EXPORTED_TYPES:
        types[doc_type] = {
            "schema": _schema(schema_for(doc_type), schemas),
            "version": CURRENT_VERSIONS[doc_type],
            "zh": TYPE_LABELS[doc_type][0],
            "en": TYPE_LABELS[doc_type][1],
        }
    for described in schemas.values():
        del described["_class"]
    body = {
        "format": FORMAT,
        "types": types,
        "schemas": schemas,
        "messages": _messages(),
        "ids": {
            "doc_types": list(ids.DOC_TYPES),
            "slug_types": sorted(ids.SLUG_ID_TYPES),
            "ulid": ids._ULID_RE.pattern,
            "slug": ids._SLUG_RE.pattern,
            "max_bytes": ids.MAX_ID_BYTES,
            "params": {"types": ids._types_list()},
        },
        "special_members": sorted(COUCHDB_SPECIAL_MEMBERS),
        "places": {
            "code": places._CODE_RE.pattern,
            "levels": {str(length): level for length, level in places.LEVEL_BY_LENGTH.items()},
        },
        "current_versions": dict(CURRENT_VERSIONS),
    }
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return {"digest": hashlib.sha256(text.encode()).hexdigest()[:16], **body}


def export_json() -> bytes:
    """`export_schemas()` as the UTF-8 JSON the app fetches."""
    return json.dumps(export_schemas(), ensure_ascii=False, separators=(",", ":")).encode()
