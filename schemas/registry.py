"""Which schema validates a document, and how old documents are upgraded.

Every document carries `type` and `schema_version`. `(type, version)` maps to
a schema class (None for retired versions, which are only ever read after an
upgrade) and a pure function that lifts a document to version + 1. Tablets
run old app versions for months, so both ends upgrade before validating.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from . import home_visit, patrol
from .envelope import COUCHDB_SPECIAL_MEMBERS, Envelope, fields_flagged
from .fields import PERSONAL_FLAG, SERVER_OWNED_FLAG
from .household import Household
from .ids import DOC_TYPES, doc_id_error
from .load_plan import SchemaPlan, Unsupported, schema_plan
from .messages import msg, split_message
from .place import Place
from .rejection_notice import RejectionNotice
from .rules import check_rules
from .station import Station
from .team import Team
from .user import User
from .water_source import WaterSource

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class VersionEntry:
    schema: type[Envelope] | None
    upgrade: Upgrade | None  # to version + 1; None for the current version


REGISTRY: Mapping[tuple[str, int], VersionEntry] = {
    ("patrol", 1): VersionEntry(None, patrol.upgrade_v1),
    ("patrol", 2): VersionEntry(patrol.Patrol, None),
    ("water_source", 1): VersionEntry(WaterSource, None),
    ("home_visit", 1): VersionEntry(None, home_visit.upgrade_v1),
    ("home_visit", 2): VersionEntry(home_visit.HomeVisit, None),
    ("household", 1): VersionEntry(Household, None),
    ("place", 1): VersionEntry(Place, None),
    ("team", 1): VersionEntry(Team, None),
    ("station", 1): VersionEntry(Station, None),
    ("user", 1): VersionEntry(User, None),
    ("rejection_notice", 1): VersionEntry(RejectionNotice, None),
}

# Types only the server writes; a push of one by any field role is refused.
SERVER_ONLY_TYPES: frozenset[str] = frozenset({"rejection_notice"})

CURRENT_VERSIONS: Mapping[str, int] = {
    doc_type: max(version for (name, version) in REGISTRY if name == doc_type)
    for doc_type in DOC_TYPES
}


class DocumentInvalid(ValueError):
    """A document failed validation.

    `errors` is marshmallow's nested dict of bilingual messages keyed by field
    path; `reason` is one bilingual line suitable for a rejection notice.
    """

    def __init__(self, errors: dict[Any, Any], reason: str | None = None) -> None:
        self.errors = errors
        self.reason = reason or _reason(errors)
        super().__init__(self.reason)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.@:-]{1,100}")


def _path_part(key: Any) -> str:
    """A field name for a message. An unknown field's name is the sender's text (it may
    be mojibake, Chinese or hold a newline): shown escaped to ASCII, never verbatim."""
    key = str(key)
    return key if _PLAIN_KEY.fullmatch(key) else ascii(key[:100])


def _leaves(errors: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            yield from _leaves(value, (*path, _path_part(key)))
    elif isinstance(errors, list | tuple):
        for item in errors:
            yield from _leaves(item, path)
    else:
        yield ".".join(path) or "_schema", str(errors)


def error_messages(errors: Mapping[Any, Any]) -> list[tuple[str, str]]:
    """Flatten a marshmallow error dict to [(dotted.path, message), ...]."""
    return list(_leaves(errors))


def _reason(errors: Mapping[Any, Any]) -> str:
    leaves = error_messages(errors)
    if not leaves:
        return msg("invalid_value")
    path, first = leaves[0]
    halves = split_message(first)
    return msg(
        "document_invalid",
        count=len(leaves),
        path=path,
        detail_zh=halves["zh"],
        detail_en=halves["en"],
    )


def _header(doc: Any) -> tuple[str, int]:
    """Check `type` and `schema_version` before anything depends on them."""
    if not isinstance(doc, Mapping):
        raise DocumentInvalid({"_schema": [msg("not_object")]})
    doc_type = doc.get("type")
    if doc_type is None:
        raise DocumentInvalid({"type": [msg("required")]})
    if not isinstance(doc_type, str) or doc_type not in CURRENT_VERSIONS:
        raise DocumentInvalid({"type": [msg("unknown_doc_type", types=", ".join(DOC_TYPES))]})
    version = doc.get("schema_version")
    if version is None:
        raise DocumentInvalid({"schema_version": [msg("required")]})
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DocumentInvalid({"schema_version": [msg("version_invalid")]})
    current = CURRENT_VERSIONS[doc_type]
    if version > current:
        raise DocumentInvalid(
            {"schema_version": [msg("version_too_new", version=version, current=current)]}
        )
    return doc_type, version


def upgrade(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `doc` upgraded step by step to its type's current version.

    Pure: the input is never mutated. Raises DocumentInvalid when the type or
    version is unknown or newer than this code.
    """
    doc_type, version = _header(doc)
    result = copy.deepcopy(dict(doc))
    while version < CURRENT_VERSIONS[doc_type]:
        entry = REGISTRY.get((doc_type, version))
        if entry is None or entry.upgrade is None:
            raise DocumentInvalid({"schema_version": [msg("no_upgrade", version=version)]})
        result = entry.upgrade(result)
        version += 1
        result["schema_version"] = version
    return result


def schema_for(doc_type: str, version: int | None = None) -> type[Envelope]:
    """The schema class for a type (current version by default)."""
    version = CURRENT_VERSIONS[doc_type] if version is None else version
    schema = REGISTRY[(doc_type, version)].schema
    if schema is None:
        raise KeyError((doc_type, version))
    return schema


@functools.cache
def _schema_instance(doc_type: str) -> Envelope:
    # Schemas hold no per-call state, so one instance per type is reused.
    return schema_for(doc_type)()


def validate_document(doc: Any) -> dict[str, Any]:
    """The cleaned, current-version, JSON-ready form of `doc`.

    CouchDB special members are set aside before loading and restored after,
    so a stored document (with `_rev`, `_attachments`, ...) validates
    unchanged. A tombstone (`_deleted: true`) is returned unchanged once its
    `_id` is checked. Raises DocumentInvalid with bilingual `errors` and `reason`.
    """
    if not isinstance(doc, Mapping):
        raise DocumentInvalid({"_schema": [msg("not_object")]})
    if doc.get("_deleted") is True:
        return _validate_tombstone(doc)
    loaded = load_document(doc)
    cleaned: dict[str, Any] = _schema_instance(loaded["type"]).dump(loaded)
    cleaned.update(copy.deepcopy({k: v for k, v in doc.items() if k in COUCHDB_SPECIAL_MEMBERS}))
    return cleaned


def check_entry(doc: Any) -> dict[str, Any]:
    """`validate_document`, then the entry rules of the record's type (no time after the
    record's `updated_at`: see schemas/rules.py). For the places a record is typed (the
    tablet app interprets the same rules, `fieldsync record` calls this), never for a
    record arriving at the server."""
    cleaned = validate_document(doc)
    if doc.get("_deleted") is True:
        return cleaned
    loaded = load_document(doc)
    errors = check_rules(schema_for(loaded["type"]).entry_rules, loaded)
    if errors:
        raise DocumentInvalid(errors)
    return cleaned


def load_document(doc: Any) -> dict[str, Any]:
    """Validate `doc` as `validate_document` does (tombstones aside) and return its
    loaded form: current version, Python values (datetimes, dates), no CouchDB
    special members. Cheaper when only a verdict and a field or two are needed:
    the gateway checks every pushed revision this way."""
    if not isinstance(doc, Mapping):
        raise DocumentInvalid({"_schema": [msg("not_object")]})
    doc_type, version = _header(doc)
    # Loading only reads its input, so a current document needs no copy (the hot path);
    # the plan sets CouchDB's members aside itself.
    current = doc if version == CURRENT_VERSIONS[doc_type] else upgrade(_body(doc))
    plan = _load_plan(doc_type)
    if plan is not None:
        try:
            return plan(current)
        except Exception:  # noqa: BLE001 (any problem: marshmallow's load below says what)
            pass
    try:
        return _schema_instance(doc_type).load(_body(current))
    except ValidationError as error:
        raise DocumentInvalid(error.normalized_messages()) from None


def _body(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document without CouchDB's special members (the schemas' input)."""
    return {key: value for key, value in doc.items() if key not in COUCHDB_SPECIAL_MEMBERS}


@functools.cache
def _load_plan(doc_type: str) -> SchemaPlan | None:
    try:
        return schema_plan(_schema_instance(doc_type), set_aside=COUCHDB_SPECIAL_MEMBERS)
    except Unsupported:
        return None


def _validate_tombstone(doc: Mapping[str, Any]) -> dict[str, Any]:
    # A deletion carries no record to validate (PouchDB's remove() keeps only
    # _id, _rev and _deleted); only its id must be sound. Who may delete is the
    # server's question, answered from the previous revision.
    error = doc_id_error(doc.get("_id"))
    if error is not None:
        raise DocumentInvalid({"_id": [msg("required") if "_id" not in doc else error]})
    return copy.deepcopy(dict(doc))


def server_owned_fields(doc_type: str) -> frozenset[str]:
    """Fields only the server may set or change (review, server_received_at)."""
    return fields_flagged(schema_for(doc_type), SERVER_OWNED_FLAG)


def personal_fields(doc_type: str) -> frozenset[str]:
    """Fields holding personal data of the people served (empty for most types)."""
    return fields_flagged(schema_for(doc_type), PERSONAL_FLAG)
