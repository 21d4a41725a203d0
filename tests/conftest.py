"""Shared fixtures: the real CouchDB-protocol peer (pouchdb-server) and its databases."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

# tests/ is not a package, so the peer helpers (tests/peers/peer_server.py, next
# to the node_modules they run) are made importable by path, for this file and
# for tests that drive the server directly.
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from gateway_fixtures import county  # noqa: E402, F401  (a live county server, each backend)
from peer_server import running_pouchdb_server  # noqa: E402
from pouchdb_client import pouch  # noqa: E402, F401  (the PouchDB-in-Node fixture)
from server_fixtures import app, client, clock, create_user, runner  # noqa: E402, F401


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
