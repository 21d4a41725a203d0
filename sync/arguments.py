"""Checks and normal forms of what callers pass to a `Store`'s public methods.

`sync.store.Store` runs these once, before a backend's primitive sees anything
(PouchDB's adapter.js does the same before `_get`, `_bulkDocs`, `_changes`), so a
backend gets normalized arguments and every backend refuses bad ones with the same
CouchDB-shaped error. The HTTP gateway uses them on what a request carries, so a
request and a direct call are held to one rule. Each raises `BadRequest` naming
the problem, or returns the argument in its normal form.

Document bodies are checked by `sync.documents` (`check_document`), which these
build on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from . import revtree
from .documents import check_doc_id, check_doc_list, check_json_value, local_doc_id
from .errors import BadRequest
from .selector import compile_selector

__all__ = [
    "atts_since",
    "bulk_get_request",
    "bulk_get_requests",
    "doc_id",
    "doc_ids",
    "doc_list",
    "flag",
    "keys",
    "limit",
    "local_doc",
    "local_id",
    "open_revs",
    "optional_key",
    "optional_rev",
    "rev",
    "revs_diff",
    "selector",
    "since",
    "style",
]

Style = Literal["main_only", "all_docs"]

doc_id = check_doc_id  # a document id: a string, 1-512 UTF-8 bytes, no '/', no leading '_'
local_id = local_doc_id  # a `_local` document's id, with or without its "_local/" prefix
doc_list = check_doc_list  # the documents of a bulk call, as a list


def rev(value: object) -> str:
    """A revision ``N-hash`` in its one spelling (32-character hashes in lowercase)."""
    return revtree.normalize_rev(value)


def optional_rev(value: object) -> str | None:
    return None if value is None else rev(value)


def flag(value: object, name: str) -> bool:
    """An option that must be true or false (not a truthy string)."""
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value


def open_revs(value: object) -> list[str] | Literal["all"]:
    """``open_revs``: ``"all"`` or a list of revisions."""
    if value == "all":
        return "all"
    if not isinstance(value, list):
        raise BadRequest("open_revs must be a list of revisions or 'all'")
    return [rev(r) for r in value]


def atts_since(value: object) -> list[str] | None:
    """``atts_since``: revisions the asker holds (None or empty: none)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest("atts_since must be a list of revisions")
    return [rev(r) for r in value]


def revs_diff(value: object) -> dict[str, list[str]]:
    """A ``_revs_diff`` request, ``{id: [revs]}``, every id and revision checked."""
    if not isinstance(value, Mapping):
        raise BadRequest("_revs_diff needs an object of {id: [revs]}")
    for key, revs in value.items():
        doc_id(key)
        if not isinstance(revs, list):
            raise BadRequest(f"_revs_diff: revisions of {key[:80]!r} must be a list")
    return {key: [rev(r) for r in revs] for key, revs in value.items()}


def bulk_get_requests(value: object) -> list[Mapping]:
    """The requests of a ``_bulk_get``: a list of objects (each checked on its own by
    `bulk_get_request`, since one bad request spoils only its own answer)."""
    if isinstance(value, Mapping | str | bytes) or not isinstance(value, Iterable):
        raise BadRequest('_bulk_get needs a list of requests {"id", "rev"?, "atts_since"?}')
    requests = list(value)
    if not all(isinstance(request, Mapping) for request in requests):
        raise BadRequest("each _bulk_get request must be an object with an 'id'")
    return requests


def bulk_get_request(request: Mapping) -> dict:
    """One ``_bulk_get`` request as ``{"id", "rev": rev or None, "atts_since": [...] or
    None}``."""
    return {
        "id": doc_id(request.get("id")),
        "rev": optional_rev(request.get("rev")),
        "atts_since": atts_since(request.get("atts_since")),
    }


def style(value: object) -> Style:
    if value not in ("main_only", "all_docs"):
        raise BadRequest(f"style must be main_only or all_docs, not {str(value)[:40]!r}")
    return value  # type: ignore[return-value]


def limit(value: object, name: str = "limit") -> int | None:
    """None (no limit) or a non-negative whole number."""
    if value is not None and (type(value) is not int or value < 0):
        raise BadRequest(f"{name} must be a non-negative integer")
    return value


def since(value: object) -> object:
    """A `since` must be a sequence the store produced (opaque: the store parses it);
    ``None`` and CouchDB's ``"now"`` are refused, since a replicator must start from a
    real point it can resume from."""
    if value is None or value == "now":
        raise BadRequest("since must be a sequence this store produced")
    return value


def doc_ids(value: object) -> list[str] | None:
    """A ``_doc_ids`` filter: None, or a list (any iterable but a string) of ids."""
    if value is None:
        return None
    if isinstance(value, Mapping | str | bytes) or not isinstance(value, Iterable):
        raise BadRequest("doc_ids must be a list of document ids")
    return [doc_id(i) for i in value]


def keys(value: object) -> list[str]:
    """The ids an ``_all_docs`` asks for by key."""
    if isinstance(value, Mapping | str | bytes) or not isinstance(value, Iterable):
        raise BadRequest("keys must be a list of document ids")
    return [doc_id(key) for key in value]


def selector(value: object) -> Callable[[Mapping], bool] | None:
    """A Mango selector compiled to a predicate on a document (None: no filter)."""
    return None if value is None else compile_selector(value)


def optional_key(value: object, name: str) -> str | None:
    """`start_key` / `end_key` of an id listing: None or a string."""
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a document id")
    return value


def local_doc(doc: object) -> tuple[str, str | None, dict]:
    """A `_local` document to write: (its id, the `_rev` it claims, its body: every member
    but the special ones), plain JSON."""
    if not isinstance(doc, Mapping):
        raise BadRequest("a _local document must be a JSON object")
    key = local_id(doc.get("_id"))
    check_json_value(doc, f"_local/{key}")
    claimed = doc.get("_rev")
    if claimed is not None and not isinstance(claimed, str):
        raise BadRequest(f"_local/{key}: _rev must be a string like '0-1'")
    return key, claimed, {k: v for k, v in doc.items() if not k.startswith("_")}
