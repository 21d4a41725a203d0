"""Document ids that tablets can mint offline with no coordination.

Records use "{type}:{ULID}": a 26-character Crockford base32 ULID (48-bit
millisecond timestamp + 80 random bits), so ids from different tablets never
collide and sort roughly by creation time. Reference data (place, team,
station, user) may also use readable ids such as "place:422827101201" or
"user:zhangsan", because admins create them centrally.
"""

from __future__ import annotations

import functools
import os
import re
import time

from .messages import msg

# Order matters only for messages; this is the registry's list of types.
DOC_TYPES: tuple[str, ...] = (
    "patrol",
    "water_source",
    "home_visit",
    "household",
    "place",
    "team",
    "station",
    "user",
    "rejection_notice",
)
REFERENCE_TYPES: frozenset[str] = frozenset({"place", "team", "station", "user"})
# Types whose ids may be readable slugs rather than ULIDs: reference data, and
# rejection notices (named after the document they are about, so one replaces another).
SLUG_ID_TYPES: frozenset[str] = REFERENCE_TYPES | {"rejection_notice"}

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MAX_ID_BYTES = 512
# 128 bits in 26 base32 digits leave 2 spare bits, so the first digit is 0-7.
_ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_SLUG_RE = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_TIME_LIMIT = 1 << 48


def _types_list() -> str:
    return ", ".join(DOC_TYPES)


def encode_ulid(value: int) -> str:
    """The 26-digit Crockford base32 form of a 128-bit integer."""
    digits = []
    for _ in range(26):
        digits.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(digits))


def new_doc_id(doc_type: str, now_ms: int, random_bytes: bytes) -> str:
    """A new "{type}:{ULID}" id from a time and 10 random bytes (pure).

    The caller supplies time and randomness so tests and replays are exact.
    """
    if (
        doc_type not in DOC_TYPES
        or not isinstance(now_ms, int)
        or isinstance(now_ms, bool)
        or not 0 <= now_ms < _TIME_LIMIT
        or not isinstance(random_bytes, bytes | bytearray)
        or len(random_bytes) != 10
    ):
        raise ValueError(msg("id_bad_args"))
    value = (now_ms << 80) | int.from_bytes(random_bytes, "big")
    return f"{doc_type}:{encode_ulid(value)}"


def generate_doc_id(doc_type: str) -> str:
    """A new id from the clock and os.urandom.

    The one impure helper of this package: for entry forms and scripts only,
    never called while validating.
    """
    return new_doc_id(doc_type, time.time_ns() // 1_000_000, os.urandom(10))


def ulid_time_ms(ulid: str) -> int:
    """The millisecond timestamp encoded in a canonical ULID."""
    if _ULID_RE.fullmatch(ulid) is None:
        raise ValueError(msg("id_format"))
    value = 0
    for char in ulid:
        value = value * 32 + CROCKFORD.index(char)
    return value >> 80


def split_doc_id(doc_id: str) -> tuple[str, str]:
    """("type", "rest") of an id; rest is "" when there is no ':'."""
    doc_type, _, rest = doc_id.partition(":")
    return doc_type, rest


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def doc_id_error(doc_id: object, doc_type: str | None = None) -> str | None:
    """The bilingual reason `doc_id` is not a valid id, or None if it is.

    With `doc_type`, the id must also be of that type (a reference such as a
    visit's household). The general CouchDB-safety rules are checked first so
    the message names the most basic problem.
    """
    if not isinstance(doc_id, str):
        return msg("not_string")
    return _id_error(doc_id, doc_type)


# A record names the same station, team and authors as the last one: remembered.
@functools.lru_cache(maxsize=4096)
def _id_error(doc_id: str, doc_type: str | None) -> str | None:
    if doc_id == "":
        return msg("id_empty")
    if _SURROGATE.search(doc_id):
        return msg("text_surrogate")
    if len(doc_id.encode("utf-8")) > MAX_ID_BYTES:
        return msg("id_too_long")
    if _CONTROL.search(doc_id):
        return msg("id_control")
    if doc_id.startswith("_"):
        return msg("id_underscore")
    if "/" in doc_id:
        return msg("id_slash")
    prefix, sep, rest = doc_id.partition(":")
    if not sep:
        return msg("id_format")
    if prefix not in DOC_TYPES:
        return msg("id_unknown_type", types=_types_list())
    if doc_type is not None and prefix != doc_type:
        return msg("id_wrong_type", expected=doc_type)
    if _ULID_RE.fullmatch(rest):
        return None
    if prefix in SLUG_ID_TYPES:
        return None if _SLUG_RE.fullmatch(rest) else msg("id_format_reference")
    return msg("id_format")
