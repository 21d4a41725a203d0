"""Checks and normal forms for what callers hand to a store.

Every store runs these before touching its storage, so bad input gets one
clear CouchDB-shaped error naming the problem and nothing already stored can
change (PouchDB's core does the same before calling an adapter).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from . import revtree
from .errors import BadRequest, TooLarge

MAX_ID_BYTES = 512
MAX_DEPTH = 64  # deeper JSON is an attack or a bug, never a field record
DEFAULT_MAX_DOC_BYTES = 1024 * 1024
DEFAULT_MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024

# Members CouchDB gives meaning to; any other leading underscore is refused.
SPECIAL_MEMBERS = frozenset(
    {
        "_id",
        "_rev",
        "_deleted",
        "_attachments",
        "_revisions",
        "_conflicts",
        "_deleted_conflicts",
        "_local_seq",
        "_revs_info",
    }
)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(f"{what} is not valid UTF-8 (unpaired surrogate at {exc.start})") from None


def check_doc_id(
    doc_id: object, *, what: str = "document id", underscore_allowed: bool = False
) -> str:
    """A document id: a non-empty string of at most 512 UTF-8 bytes, with no
    '/', no control characters and no leading '_' (reserved by CouchDB, except in the
    name of a `_local` document: PouchDB's replication ids may start with one)."""
    if not isinstance(doc_id, str):
        raise BadRequest(f"{what} must be a string, got {type(doc_id).__name__}")
    if not doc_id:
        raise BadRequest(f"{what} must not be empty")
    size = len(_utf8(doc_id, what))
    if size > MAX_ID_BYTES:
        raise BadRequest(f"{what} is {size} bytes; the limit is {MAX_ID_BYTES} bytes")
    if "/" in doc_id:
        raise BadRequest(f"{what} must not contain '/': {doc_id[:80]!r}")
    if _has_control(doc_id):
        raise BadRequest(f"{what} must not contain control characters: {doc_id[:80]!r}")
    if doc_id.startswith("_") and not underscore_allowed:
        raise BadRequest(f"{what} must not start with '_' (reserved): {doc_id[:80]!r}")
    if doc_id in (".", ".."):  # in a URL they name the database or the server, not a doc
        raise BadRequest(f"{what} must not be {doc_id!r}")
    return doc_id


def check_doc_list(docs: object) -> list:
    """The list a bulk call was given (any iterable but a string or a single object)."""
    if isinstance(docs, Mapping | str | bytes) or not isinstance(docs, Iterable):
        raise BadRequest("bulk_docs needs a list of documents")
    return list(docs)


def local_doc_id(local_id: object) -> str:
    """A `_local` document's own id, with or without its ``_local/`` prefix."""
    if isinstance(local_id, str) and local_id.startswith("_local/"):
        local_id = local_id[len("_local/") :]
    return check_doc_id(local_id, what="local document id", underscore_allowed=True)


def check_json_value(
    value: object, where: str = "document", *, may_hold_surrogates: bool = True
) -> None:
    """Refuse anything that is not plain JSON: non-string keys, NaN, bytes,
    sets, unpaired surrogates, nesting deeper than MAX_DEPTH. A caller that knows
    no surrogate can be there skips that test (it costs as much as a parse)."""
    if not _is_plain_json(value) or (may_hold_surrogates and not _encodes(value)):
        _explain_json_problem(value, where)


def _encodes(value: object) -> bool:
    """Unpaired surrogates, in keys or values, fail to encode as UTF-8."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SCALARS = (str, int, bool, type(None))


def _is_plain_json(value: object) -> bool:
    """The fast structural check for the common case: no path strings are built,
    exact type tests (JSON parsers give exactly these types)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if depth >= MAX_DEPTH + 1:
            return False
        if kind is dict:
            for key, child in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    return False
                if type(child) not in _SCALARS:
                    stack.append((child, depth + 1))
        elif kind is list:
            stack.extend(
                (child, depth + 1)
                for child in item  # type: ignore[attr-defined]
                if type(child) not in _SCALARS
            )
        elif kind is float:
            if not math.isfinite(item):  # type: ignore[arg-type]
                return False
        elif isinstance(item, Mapping | list | tuple | float | str | int):
            # A subclass or a tuple: judged by its JSON form, and the walk goes on.
            if not _dumps_ok(item) or not _is_plain_json(json.loads(json.dumps(item))):
                return False
        else:
            return False
    return True


def _dumps_ok(item: object) -> bool:
    try:
        json.dumps(item, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _explain_json_problem(value: object, where: str) -> None:
    """The slow walk, run only for bad input: raise BadRequest naming where it is."""
    stack: list[tuple[object, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"{path}: JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            _utf8(item, path)
        elif isinstance(item, bool) or item is None or isinstance(item, int):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise BadRequest(f"{path}: {item} is not a JSON number")
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise BadRequest(f"{path}: object key {key!r} is not a string")
                _utf8(key, f"{path} key")
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        else:
            raise BadRequest(f"{path}: {type(item).__name__} is not a JSON value")
    raise BadRequest(f"{where}: not plain JSON")


def parse_json_bytes(raw: bytes, *, limit: int = DEFAULT_MAX_DOC_BYTES) -> object:
    """Decode a request body: strict UTF-8, plain JSON, within `limit` bytes."""
    if len(raw) > limit:
        raise TooLarge(f"request body is {len(raw)} bytes; the limit is {limit} bytes")
    value = _orjson_loads(raw)
    if value is not _NOT_READ:
        # orjson read it, so it is valid UTF-8 without NaN, lone surrogates or non-string
        # keys: only its depth is left to check.
        if not _within_depth(value):
            raise BadRequest(f"body: JSON nested deeper than {MAX_DEPTH} levels")
        return value
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequest(f"body: JSON nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    # Valid UTF-8 cannot hold a lone surrogate, only a \u escape can.
    check_json_value(value, "body", may_hold_surrogates=b"\\u" in raw)
    return value


_CONTAINERS = (dict, list)


def _within_depth(value: object) -> bool:
    """No object or list in `value` (plain JSON types) nested deeper than MAX_DEPTH; a
    level at a time, about twice as fast as the full check."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        if depth > MAX_DEPTH:
            return False
        deeper = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) in _CONTAINERS:
                    deeper.append(child)
        level = deeper
        depth += 1
    return True


def _refuse_constant(name: str) -> None:
    raise BadRequest(f"body is not valid JSON: {name} is not a JSON number")


# orjson reads an integer beyond 64 bits as a float; those texts go to the standard
# library. To find one fast, bytes.translate maps digits and "-" to "0", the characters
# a number may follow (":", "[", ",") to "S", everything else to "." and drops
# whitespace: "S" and 19 zeros is then a number of 19 digits or more. Digits inside
# strings (revision hashes) mostly follow a letter or a quote and do not count.
_NUMBER_MAP = bytes(
    48 if chr(b) in "0123456789-" else 83 if chr(b) in ":[," else 46 for b in range(256)
)
_LONG_NUMBER = b"S" + b"0" * 19


def _may_hold_long_integer(raw: bytes) -> bool:
    return _LONG_NUMBER in b"S" + raw.translate(_NUMBER_MAP, b" \t\n\r")


_NOT_READ = object()


def _orjson_loads(raw: bytes) -> object:
    """orjson's reading of `raw` where it is exactly the standard library's, else
    _NOT_READ: when the text may hold an integer of 19 digits or more (orjson makes it a
    float), or orjson refuses it (NaN, a lone surrogate escape, invalid UTF-8, a BOM,
    deep nesting, not JSON)."""
    if _may_hold_long_integer(raw):
        return _NOT_READ
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_READ


def load_json(raw: bytes, **options: Any) -> object:
    """Parse JSON exactly as `json.loads(raw, **options)` does, about twice as fast: with
    orjson where it reads the same; the standard library reads (and explains) the rest."""
    value = _orjson_loads(raw)
    if value is not _NOT_READ:
        return value
    return json.loads(raw.decode("utf-8"), **options)  # as text: a BOM stays an error


def dump_json(value: object) -> str:
    """Compact UTF-8 JSON of a value already checked to be plain JSON (orjson would
    write NaN as null). orjson is 6x faster on our documents, the hottest step of a
    replication; what it refuses (integers over 64 bits) goes to the standard library."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class NewAttachment:
    content_type: str
    data: bytes
    digest: str


@dataclass(frozen=True)
class AttachmentStub:
    digest: str | None
    revpos: int | None


def attachment_digest(data: bytes) -> str:
    """CouchDB's digest form: ``md5-`` and the base64 of the MD5."""
    return "md5-" + base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


@dataclass(frozen=True)
class CheckedDocument:
    """A document that passed every check, split the way a store keeps it."""

    doc_id: str
    special: dict  # CouchDB's special members: _rev, _deleted, _revisions...
    body: dict  # every other member
    body_json: str
    attachments: dict[str, NewAttachment | AttachmentStub]
    path: list[str] | None  # new_edits=false: the revision path, leaf first

    def to_json(self) -> str:
        """The whole document as compact JSON, reusing the body already encoded."""
        special = dump_json(self.special)
        return special if self.body_json == "{}" else f"{special[:-1]},{self.body_json[1:]}"


def check_document(
    doc: object,
    *,
    max_doc_bytes: int,
    max_attachment_bytes: int,
    new_edits: bool = True,
    plain_json: bool = False,
) -> CheckedDocument:
    """Check a document and split it; the body's JSON size is what `max_doc_bytes`
    limits (attachments are limited one by one). With new_edits=False (replication)
    the document must carry its `_rev`, and `_revisions` must end at it. `plain_json`:
    the caller has checked it with `check_json_value` (a parsed request body), so the
    walk over every value is not done twice."""
    if not isinstance(doc, Mapping):
        raise BadRequest(f"a document must be a JSON object, got {type(doc).__name__}")
    doc_id = check_doc_id(doc.get("_id"))
    if not plain_json and not _is_plain_json(doc):
        _explain_json_problem(doc, f"document {doc_id[:80]!r}")
    special = {}
    body = {}
    for key, value in doc.items():
        if key.startswith("_"):
            if key not in SPECIAL_MEMBERS:
                raise BadRequest(f"Bad special document member: {key} in {doc_id[:80]!r}")
            special[key] = value
        else:
            body[key] = value
    if "_deleted" in special and not isinstance(special["_deleted"], bool):
        raise BadRequest(f"_deleted must be true or false in {doc_id[:80]!r}")
    if "_rev" in special:
        special["_rev"] = revtree.normalize_rev(special["_rev"])
    path = None if new_edits else _replicated_path(doc_id, special)
    body_json = dump_json(body)
    try:
        size = len(body_json.encode("utf-8"))
    except UnicodeEncodeError:  # an unpaired surrogate somewhere in the body
        _explain_json_problem(body, f"document {doc_id[:80]!r}")
        raise
    if size > max_doc_bytes:
        raise TooLarge(
            f"document {doc_id[:80]!r} is {size} bytes; the limit is {max_doc_bytes} bytes"
        )
    attachments = _parse_attachments(doc_id, special.get("_attachments"), max_attachment_bytes)
    return CheckedDocument(doc_id, special, body, body_json, attachments, path)


def _replicated_path(doc_id: str, special: dict) -> list[str]:
    if "_rev" not in special:
        raise BadRequest(f"{doc_id[:80]!r}: replicated documents need a _rev")
    rev = special["_rev"]
    if "_revisions" not in special:
        return [rev]
    path = revtree.path_from_revisions(special["_revisions"])
    if path[0] != rev:
        raise BadRequest(f"{doc_id[:80]!r}: _revisions does not end at _rev {rev}")
    return path


def _parse_attachments(
    doc_id: str, raw: object, limit: int
) -> dict[str, NewAttachment | AttachmentStub]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise BadRequest(f"_attachments must be an object in {doc_id[:80]!r}")
    parsed: dict[str, NewAttachment | AttachmentStub] = {}
    for name, meta in raw.items():
        label = f"attachment {name[:80]!r} of {doc_id[:80]!r}"
        if not name or name.startswith("_") or _has_control(name) or len(_utf8(name, label)) > 255:
            raise BadRequest(
                f"{label}: names must be 1-255 bytes, no control characters, not starting with '_'"
            )
        if not isinstance(meta, Mapping):
            raise BadRequest(f"{label}: must be an object")
        if meta.get("stub") is True:
            digest, revpos = meta.get("digest"), meta.get("revpos")
            if digest is not None and not isinstance(digest, str):
                raise BadRequest(f"{label}: digest must be a string")
            if revpos is not None and (not isinstance(revpos, int) or revpos < 1):
                raise BadRequest(f"{label}: revpos must be a positive integer")
            parsed[name] = AttachmentStub(digest, revpos)
            continue
        parsed[name] = _new_attachment(label, meta, limit)
    return parsed


def _new_attachment(label: str, meta: Mapping, limit: int) -> NewAttachment:
    content_type = meta.get("content_type", "application/octet-stream")
    if not isinstance(content_type, str) or _has_control(content_type) or len(content_type) > 255:
        raise BadRequest(f"{label}: content_type must be a short string")
    _utf8(content_type, f"{label} content_type")
    encoded = meta.get("data")
    if not isinstance(encoded, str):
        raise BadRequest(f"{label}: needs base64 'data' or 'stub': true")
    if len(encoded) * 3 // 4 > limit + 3:
        raise TooLarge(f"{label}: larger than the limit of {limit} bytes")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{label}: data is not valid base64") from None
    if len(data) > limit:
        raise TooLarge(f"{label} is {len(data)} bytes; the limit is {limit} bytes")
    digest = attachment_digest(data)
    if "digest" in meta and meta["digest"] != digest:
        raise BadRequest(
            f"{label}: digest {str(meta['digest'])[:60]!r} does not match its data ({digest})"
        )
    if "length" in meta and meta["length"] != len(data):
        raise BadRequest(
            f"{label}: length {meta['length']!r} does not match its data ({len(data)} bytes)"
        )
    return NewAttachment(content_type, data, digest)
