"""Shared fixtures: the real CouchDB-protocol peer (pouchdb-server) and its databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

# Helpers live in tests/support (a package: tests/ is on sys.path as the rootdir of
# these modules), never in test modules importing each other.
from support.app import app, client, clock, create_user, runner  # noqa: F401
from support.browser import artifacts, browser  # noqa: F401  (Debian's chromium)
from support.couchdb import apache_couchdb, apache_couchdb_db  # noqa: F401
from support.county import county  # noqa: F401  (a live county server, each backend)
from support.peer_server import running_pouchdb_server
from support.pouchdb_client import pouch  # noqa: F401  (the PouchDB-in-Node fixture)
from support.tablet import tablet_county  # noqa: F401  (a county the tablet app talks to)


@pytest.fixture(scope="session")
def couch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of one in-memory pouchdb-server shared by the whole session."""
    with running_pouchdb_server(tmp_path_factory.mktemp("pouchdb-server")) as url:
        yield url


@pytest.fixture
def couch_db(couch_url: str) -> Iterator[str]:
    """Full URL of a fresh, uniquely named database, deleted afterwards."""
    # CouchDB names must start with a lowercase letter.
    url = f"{couch_url}/test-{uuid.uuid4().hex}"
    with requests.Session() as session:
        created = session.put(url, timeout=30)
        assert created.status_code == 201, f"PUT {url}: {created.status_code} {created.text}"
        try:
            yield url
        finally:
            session.delete(url, timeout=30)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the real peer, so `-m "not peer"` can leave them out."""
    for item in items:
        if {"couch_url", "pouch"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.peer)
