"""Request and response plumbing shared by the CouchDB-compatible endpoints:
bounded gzip and JSON decoding, gzip-aware JSON replies, query parameters."""

from __future__ import annotations

import gzip
import json
import zlib

from flask import Response, current_app, request

from sync.documents import dump_json, parse_json_bytes
from sync.errors import BadRequest, StoreError, TooLarge

GZIP_MIN_BYTES = 1024


def gzipped() -> bool:
    """Whether the request body is gzipped."""
    return request.headers.get("Content-Encoding", "").lower() == "gzip"


def json_body() -> object:
    """The request body as JSON: gzip undone (bounded, so a zip bomb is a 413), UTF-8
    checked, nesting limited, size limited to MAX_CONTENT_LENGTH."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    raw = request.get_data(cache=True)
    if request.content_length is None and len(raw) >= limit:
        # A streamed (chunked) body is cut at the limit without a word: refuse, never half-read.
        raise TooLarge(f"request body is larger than the limit of {limit} bytes")
    if gzipped():
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise BadRequest("body is not valid gzip") from None
        if len(raw) > limit or inflater.unconsumed_tail:
            raise TooLarge(f"request body is larger than the limit of {limit} bytes")
        if not inflater.eof or inflater.unused_data:
            # A cut stream (no trailer, so no CRC check) or bytes after it: never half-read.
            raise BadRequest("body is not valid gzip (truncated, or data after the stream)")
    content_type = request.headers.get("Content-Type", "application/json")
    if not content_type.startswith(("application/json", "text/plain")):
        raise BadRequest(f"Content-Type must be application/json, not {content_type[:60]}")
    return parse_json_bytes(raw, limit=limit)


def reply(body: object, status: int = 200) -> Response:
    data = dump_json(body).encode("utf-8")
    response = Response(data, status=status, mimetype="application/json")
    if len(data) >= GZIP_MIN_BYTES and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(gzip.compress(data, compresslevel=5))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
    return response


def store_error(exc: StoreError) -> Response:
    """CouchDB's error form, for a blueprint's errorhandler (with Retry-After when the
    error says when to try again)."""
    response = reply({"error": exc.error, "reason": exc.reason}, exc.status)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def flag(name: str) -> bool:
    return request.args.get(name, "false").lower() == "true"


def json_arg(name: str, default: object = None) -> object:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # deep nesting overflows the parser's stack
        raise BadRequest(f"query parameter {name} is not valid JSON") from None


def int_arg(name: str, default: int, *, low: int = 0, high: int = 10**9) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # ASCII digits only (str.isdigit accepts "²", which int() refuses) and a bounded
    # length (int() refuses more than 4300 digits): either was a 500.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not low <= int(raw) <= high:
        raise BadRequest(f"query parameter {name} must be a whole number from {low} to {high}")
    return int(raw)
