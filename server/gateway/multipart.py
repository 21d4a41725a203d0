"""CouchDB's multipart document forms, as its replicator sends and expects them.

- A write of one document with its attachments (`PUT /db/{id}`, body
  ``multipart/related``): a JSON part whose `_attachments` mark the attachments that
  follow with ``"follows": true``, then one part per such attachment, in that order
  (each may be gzip-encoded, ``"encoding": "gzip"``). `parse_related` turns it into the
  same document with the attachments inline (base64), which the push pipeline judges
  like any other.
- A read of revisions (`GET /db/{id}?open_revs=[...]`, ``Accept: multipart/mixed``):
  one ``application/json`` part per revision (attachments inline), a missing revision
  being a part marked ``error="true"`` holding ``{"missing": rev}``. `mixed` writes it.

Malformed input is a BadRequest naming what is wrong; nothing is written.
"""

from __future__ import annotations

import base64
import re
import uuid
import zlib

from sync.documents import attachment_digest, dump_json, parse_json_bytes
from sync.errors import BadRequest, TooLarge

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


def is_related(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/related")


def wants_mixed(accept: str) -> bool:
    return "multipart/mixed" in accept.lower()


def _boundary(content_type: str) -> bytes:
    found = _BOUNDARY.search(content_type)
    if not found:
        raise BadRequest("a multipart body needs a boundary in its Content-Type")
    boundary = (found.group(1) or found.group(2)).encode("latin-1", "replace")
    if not 1 <= len(boundary) <= 200:
        raise BadRequest("the multipart boundary must be 1 to 200 characters")
    return boundary


def _parts(body: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]]:
    """(headers with lowercase names, data) of every part, in order."""
    delimiter = b"--" + boundary
    start = body.find(delimiter)
    if start < 0:
        raise BadRequest("the multipart body does not contain its boundary")
    parts = []
    position = start + len(delimiter)
    while True:
        if body.startswith(b"--", position):
            return parts  # the closing delimiter
        if body.startswith(b"\r\n", position):
            position += 2
        else:
            raise BadRequest("a multipart delimiter must end its line")
        end = body.find(b"\r\n" + delimiter, position)
        if end < 0:
            raise BadRequest("the multipart body is cut short (no closing boundary)")
        parts.append(_part(body[position:end]))
        position = end + 2 + len(delimiter)


def _part(raw: bytes) -> tuple[dict[str, str], bytes]:
    head, separator, data = raw.partition(b"\r\n\r\n")
    if not separator:
        if raw.startswith(b"\r\n"):  # a part without headers
            return {}, raw[2:]
        raise BadRequest("a multipart part has no blank line after its headers")
    headers = {}
    for line in head.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            raise BadRequest("a multipart part has a malformed header line")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers, data


def _filename(headers: dict[str, str]) -> str | None:
    found = re.search(r'filename="((?:[^"\\]|\\.)*)"', headers.get("content-disposition", ""))
    if not found:
        return None
    return found.group(1).replace('\\"', '"').encode("latin-1").decode("utf-8", "replace")


def parse_related(body: bytes, content_type: str, limit: int) -> dict:
    """The document a ``multipart/related`` write carries, attachments inline.

    `limit` bounds what a gzip-encoded attachment may inflate to (a zip bomb is a 413).
    """
    parts = _parts(body, _boundary(content_type))
    if not parts:
        raise BadRequest("a multipart/related document has no parts")
    headers, data = parts[0]
    if not headers.get("content-type", "application/json").startswith("application/json"):
        raise BadRequest("the first part of a multipart/related document must be its JSON")
    doc = parse_json_bytes(data, limit=limit)
    if not isinstance(doc, dict):
        raise BadRequest("a document must be a JSON object")
    attachments = doc.get("_attachments")
    if attachments is None:
        attachments = {}
    if not isinstance(attachments, dict):
        raise BadRequest("_attachments must be an object")
    following = [
        name for name, meta in attachments.items() if isinstance(meta, dict) and meta.get("follows")
    ]
    data_parts = parts[1:]
    if len(data_parts) != len(following):
        raise BadRequest(
            f"the document says {len(following)} attachments follow, "
            f"the body holds {len(data_parts)}"
        )
    named = {_filename(h): (h, d) for h, d in data_parts}
    inline = {}
    for position, name in enumerate(following):
        part_headers, part_data = named.get(name) or data_parts[position]
        inline[name] = _inline(name, attachments[name], part_headers, part_data, limit)
    if inline:
        doc["_attachments"] = {**attachments, **inline}
    return doc


def _inline(name: str, meta: dict, headers: dict[str, str], data: bytes, limit: int) -> dict:
    encoding = meta.get("encoding") or headers.get("content-encoding") or "identity"
    if encoding not in ("identity", "gzip"):
        raise BadRequest(f"attachment {name[:80]!r}: unknown encoding {str(encoding)[:20]!r}")
    length = meta.get("encoded_length" if encoding == "gzip" else "length")
    if isinstance(length, int) and length != len(data):
        raise BadRequest(
            f"attachment {name[:80]!r}: {len(data)} bytes sent, its stub says {length}"
        )
    digest = meta.get("digest")
    if encoding == "gzip":
        encoded, data = data, _gunzip(name, data, limit)
        if digest is not None and digest == attachment_digest(encoded):
            digest = None  # a digest of the encoded bytes: the store computes its own
    kept = {
        key: value
        for key, value in meta.items()
        if key not in ("follows", "stub", "encoding", "encoded_length", "length", "data", "digest")
    }
    kept["data"] = base64.b64encode(data).decode("ascii")
    if "content_type" not in kept and headers.get("content-type"):
        kept["content_type"] = headers["content-type"]
    if digest is not None:
        kept["digest"] = digest  # checked by the store against the data
    return kept


def _gunzip(name: str, data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise BadRequest(f"attachment {name[:80]!r} is not valid gzip") from None
    if len(plain) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"attachment {name[:80]!r} inflates past the limit of {limit} bytes")
    if not inflater.eof:
        raise BadRequest(f"attachment {name[:80]!r}: the gzip stream is cut short")
    return plain


def mixed(results: list[dict]) -> tuple[bytes, str]:
    """(body, Content-Type) of an open_revs answer: `results` as the store gives them,
    ``{"ok": doc}`` or ``{"missing": rev}``."""
    boundary = uuid.uuid4().hex
    delimiter = b"--" + boundary.encode()
    chunks = [delimiter]
    for result in results:
        if "ok" in result:
            head = b"\r\nContent-Type: application/json\r\n\r\n"
            data = dump_json(result["ok"]).encode("utf-8")
        else:
            head = b'\r\nContent-Type: application/json; error="true"\r\n\r\n'
            data = dump_json({"missing": result.get("missing")}).encode("utf-8")
        chunks += [head, data, b"\r\n", delimiter]
    chunks.append(b"--")
    return b"".join(chunks), f'multipart/mixed; boundary="{boundary}"'
