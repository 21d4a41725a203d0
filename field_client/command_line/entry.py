"""What an entry form does, for the command line: a new record's envelope, and typed
values turned into JSON by their field's kind.

The kinds come from the description the tablet's validator reads
(`schemas.export.export_schemas`), so a field added to a schema is typed here with no
edit. A value that cannot be read as its kind is kept as typed: the schemas then refuse
it with their own message at its path ("必须是数字。 / Not a valid number."), exactly
as they would refuse it from the tablet.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from schemas import (
    COUCHDB_SPECIAL_MEMBERS,
    CURRENT_VERSIONS,
    generate_doc_id,
    server_owned_fields,
)
from schemas.export import export_schemas
from schemas.labels import Label

from .local import Identity, now
from .messages import FieldClientError

Described = Mapping[str, Any]  # one field of the export: {"name", "kind", ...}

# Fields this client fills in on every record; nobody types them.
CLIENT_FIELDS = frozenset({"_id", "type", "schema_version"})
_INTEGER = re.compile(r"[+-]?[0-9]+")
_TRUE = frozenset({"true", "yes", "y", "1", "是", "对"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "不"})
_LIST_SEPARATORS = re.compile(r"[,，、]")
_SIMPLE_ITEMS = frozenset(
    {"text", "token", "choice", "doc_id", "place_code", "int", "number", "bool", "date"}
)


def new_record(doc_type: str, who: Identity, user: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope of a new `doc_type` record by `who`; `user` is their `user:`
    document (its station, team and scope are the record's defaults)."""
    moment = now()
    envelope: dict[str, Any] = {
        "_id": generate_doc_id(doc_type),
        "type": doc_type,
        "schema_version": CURRENT_VERSIONS[doc_type],
        "place": user.get("scope"),
        "station": user.get("station"),
        "team": user.get("team"),
        "author": who.user_id,
        "device": who.device,
        "created_at": moment,
        "updated_at": moment,
    }
    return {key: value for key, value in envelope.items() if value is not None}


def refuse_client_fields(paths: list[str], doc_type: str) -> None:
    """Fields fieldsync or the server owns may not be given in a file or with --set."""
    owned = CLIENT_FIELDS | COUCHDB_SPECIAL_MEMBERS | server_owned_fields(doc_type)
    for path in paths:
        top = path.split(".", 1)[0]
        if top in owned:
            raise FieldClientError("set_by_client", field=top)


def parse_assignment(assignment: str) -> tuple[str, str]:
    """`location.lat=29.5` -> ("location.lat", "29.5"); the value is kept as typed."""
    path, sep, value = assignment.partition("=")
    if not sep or not path.strip() or any(not part for part in path.strip().split(".")):
        raise FieldClientError("bad_assignment", text=assignment)
    return path.strip(), value


def set_path(doc: dict[str, Any], doc_type: str, path: str, raw: str) -> None:
    """Put `raw`, read as the kind of the field at the dotted `path`, into `doc`.

    A number in the path is an item of a list (`incidents.0.kind`); the next free number
    adds an item."""
    parts = path.split(".")
    container: Any = doc
    described: Described | None = {"kind": "object", "schema": _schema_name(doc_type)}
    for depth, part in enumerate(parts):
        described = _child(described, part)
        where = ".".join(parts[: depth + 1])
        if depth == len(parts) - 1:
            _put(container, part, convert(raw, described), where)
            return
        nested = _step(container, part)
        if not isinstance(nested, dict | list):
            nested = [] if parts[depth + 1].isdigit() else {}
            _put(container, part, nested, where)
        container = nested


def label_of(doc_type: str, path: str) -> Label | None:
    """The label of the field a dotted `path` ends at (list numbers pass to the item)."""
    described: Described | None = {"kind": "object", "schema": _schema_name(doc_type)}
    for part in path.split("."):
        described = _child(described, part)
    return (described["zh"], described["en"]) if described and "zh" in described else None


def unset_path(doc: dict[str, Any], path: str) -> None:
    """Remove the field at the dotted `path`, if it is there."""
    *parents, last = path.split(".")
    container: Any = doc
    for part in parents:
        container = _step(container, part)
        if container is None:
            return
    if isinstance(container, dict):
        container.pop(last, None)
    elif isinstance(container, list) and last.isdigit() and int(last) < len(container):
        del container[int(last)]


def convert(raw: str, described: Described | None) -> Any:
    """`raw` as the JSON value of a field of the `described` kind (unknown: as typed)."""
    kind = described.get("kind") if described else None
    text = raw.strip()
    if kind == "int":
        return int(text) if _INTEGER.fullmatch(text) else raw
    if kind == "number":
        return _number(text, raw)
    if kind == "bool":
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else raw
    if kind == "object":
        return _json(text, raw) if text.startswith("{") else raw
    if kind == "list":
        if text.startswith("["):
            return _json(text, raw)
        item = described.get("item") if described else None
        if item is None or item.get("kind") not in _SIMPLE_ITEMS:
            return raw  # a list of objects is given as JSON; the schema says "not a list"
        parts = [part.strip() for part in _LIST_SEPARATORS.split(text)]
        return [convert(part, item) for part in parts if part]
    return raw  # text, choices, ids, place codes, dates and times: as typed


def _number(text: str, raw: str) -> Any:
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw


def _json(text: str, raw: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return raw


def _schema_name(doc_type: str) -> str:
    return export_schemas()["types"][doc_type]["schema"]


def _child(described: Described | None, part: str) -> Described | None:
    """The description of `part` inside the field `described` (None once unknown)."""
    if described is None:
        return None
    if described.get("kind") == "list":
        return described.get("item") if part.isdigit() else None
    if described.get("kind") != "object":
        return None
    fields = export_schemas()["schemas"][described["schema"]]["fields"]
    return next((field for field in fields if field["name"] == part), None)


def _put(container: dict[str, Any] | list[Any], part: str, value: Any, path: str) -> None:
    if isinstance(container, dict):
        container[part] = value
        return
    parent = path.rpartition(".")[0]
    if not part.isdigit():
        raise FieldClientError("list_needs_index", path=parent)
    index = int(part)
    if index > len(container):
        raise FieldClientError("index_gap", path=parent, count=len(container), index=index)
    if index == len(container):
        container.append(value)
    else:
        container[index] = value


def _step(container: Any, part: str) -> Any:
    if isinstance(container, dict):
        return container.get(part)
    if isinstance(container, list) and part.isdigit() and int(part) < len(container):
        return container[int(part)]
    return None
