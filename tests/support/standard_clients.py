"""Helpers for the tests that drive `/db` with standard CouchDB clients and peers.

One county per backend serves a whole module (`module_county`); records are made
valid for the user who pushes them (`authored`), because the write policy wants a
record's author and participants to be the pushing user.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.demo_county import recorded_by
from sync.store import Store

from .county import County, county_store, live_county

with warnings.catch_warnings():  # python-cloudant warns that it is deprecated on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from cloudant.client import CouchDB as CloudantClient  # noqa: F401  (for test modules)


def authored(doc: dict, username: str) -> dict:
    """`doc` recorded by `username` alone (author, participants, volunteers, follow-up)."""
    (recorded,) = recorded_by([copy.deepcopy(doc)], username)
    return recorded


@contextmanager
def module_county(
    request: pytest.FixtureRequest, data_dir: Path, **overrides: object
) -> Iterator[County]:
    """A county on the backend `request.param` names ("embedded" or "couchdb")."""
    couch_url = request.getfixturevalue("couch_url") if request.param == "couchdb" else None
    with live_county(data_dir, couch_url, **overrides) as county:
        yield county


def ids_in_scope(county: County, scope: str, *, personal: bool = True) -> set[str]:
    """Live documents of the county store whose place is inside `scope`, read from the
    store itself (not the gateway): what a user of that scope must be shown."""
    personal_types = {"home_visit", "household"}
    store: Store = county_store(county)
    found = set()
    for row in store.all_docs(include_docs=True):
        doc = row["doc"]
        place = doc.get("place")
        if isinstance(place, str) and place.startswith(scope):
            if personal or doc.get("type") not in personal_types:
                found.add(row["id"])
    return found
