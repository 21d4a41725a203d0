"""Schema verdicts on pushed records: what `schemas/` says of each document.

Judged in the request's own thread. Worker processes were measured against this on
the benchmark (bench/bench_gateway.py, docs/benchmarks.md): neither a lone tablet's
push nor twenty tablets at once got measurably faster, so the pool went.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas import DocumentInvalid, error_messages, load_document, located, validate_document


def is_formed(doc: object) -> bool:
    """A pushed document the schemas judge: an object with a string `_id` (any other
    entry of a push gets a bad_request row of its own)."""
    return isinstance(doc, dict) and isinstance(doc.get("_id"), str)


@dataclass(frozen=True)
class Verdict:
    """What the schemas say of one pushed document."""

    place: object  # the record's place as validated (a place code string when valid)
    problems: tuple[str, ...]  # bilingual "path: message" lines; empty means valid


def verdict(doc: Mapping) -> Verdict:
    """Validate one pushed document: a record is loaded (upgraded and checked), a
    tombstone with a body has its id checked and keeps the place it was sent with."""
    try:
        checked = validate_document(doc) if doc.get("_deleted") is True else load_document(doc)
    except DocumentInvalid as exc:
        return Verdict(None, tuple(located(p, m) for p, m in error_messages(exc.errors)))
    return Verdict(checked.get("place"), ())
