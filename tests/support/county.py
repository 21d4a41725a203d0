"""A county server running for real on 127.0.0.1, over each store backend.

`county` is parametrised: the embedded SqliteStore, and CouchDB protocol (the
pouchdb-server test peer) behind `FIELDSYNC_COUCHDB_URL`: every gateway test
runs against both.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from server.accounts.roster import user_document
from server.app import create_app
from server.demo_county import DemoCounty, recorded_by
from server.services import services
from sync import Store
from sync.http_client import basic_auth

VILLAGE = "422827100001"  # 翔凤镇白岩村 in the demo county
OTHER_VILLAGE = "422827101001"  # 百福司镇舍米湖村
PASSWORD = "走访记录-2024"


@dataclass
class County:
    app: Flask
    url: str  # the server root, e.g. http://127.0.0.1:PORT

    def db_url(self, username: str) -> str:
        """The user's logical database, with Basic credentials in the URL."""
        host = self.url.removeprefix("http://")
        return f"http://{username}:{PASSWORD}@{host}/db"

    def add_user(
        self,
        username: str,
        role: str,
        scope: str,
        *,
        team: str | None = None,
        station: str | None = None,
    ) -> str:
        """An account and its roster entry (`user:<username>`); a village or grid user
        belongs to the village's team and station unless told otherwise."""
        village = scope[:12] if len(scope) >= 12 else None
        team = team or (f"team:{village}" if village else None)
        station = station or (f"station:{village}" if village else None)
        doc = user_document(username, role, scope, username, team=team, station=station)
        (row,) = county_store(self).bulk_docs([doc])
        assert row.get("ok"), row
        with self.app.app_context():
            services().users.create(username, PASSWORD, role, scope)
        return username

    def add_places(self, *villages: str) -> list[dict]:
        """The demo county's reference documents of `villages` written into the store: the
        county, their townships, the villages, their grids, teams and stations."""
        docs = reference_docs(*villages)
        rows = county_store(self).bulk_docs(docs)
        assert all(row.get("ok") for row in rows), rows
        return docs

    def session(self, username: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = basic_auth(username, PASSWORD)
        session.headers["X-Fieldsync-Device"] = f"tablet-{username}"
        return session


def reference_docs(*villages: str) -> list[dict]:
    """The demo county's place, team and station documents of `villages`: the county,
    their townships, the villages, their grids, teams and stations."""
    wanted = {village[:6] for village in villages} | {village[:9] for village in villages}
    return [
        doc
        for doc in DemoCounty(0).reference()
        if doc["type"] in ("place", "team", "station")
        and (doc["place"] in wanted or doc["place"][:12] in villages)
    ]


@contextmanager
def live_county(
    data_dir: Path, couch_url: str | None, *, port: int = 0, **overrides: object
) -> Iterator[County]:
    """A county server on 127.0.0.1 (`port`, or a free one), over CouchDB when `couch_url`
    is given (a fresh database there), else the embedded store in `data_dir`."""
    config: dict[str, object] = {
        "DATA_DIR": str(data_dir),
        "TESTING": True,
        "SECRET_KEY": "test",
        "LONGPOLL_SECONDS": 2,
        **overrides,
    }
    if couch_url:
        config["COUCHDB_URL"] = f"{couch_url}/county-{uuid.uuid4().hex[:10]}"
    app = create_app(config)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield County(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["fieldsync"].close()


@pytest.fixture(params=["embedded", "couchdb"])
def county(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[County]:
    couch_url = request.getfixturevalue("couch_url") if request.param == "couchdb" else None
    with live_county(tmp_path / "county", couch_url) as running:
        yield running


# -- records and what the county did with them ------------------------------------------


def village_records(
    village_code: str, rounds: int = 3, seed: int = 4, *, author: str | None = None
) -> list[dict]:
    """`rounds` of a village's field work (a household, a visit to it, a patrol), recorded
    by `author` (a username) alone, or by the demo's volunteers when not given."""
    county = DemoCounty(seed=seed)
    village = next(v for v in county.villages if v.code == village_code)
    docs = []
    for _ in range(rounds):
        household = county.household(village)
        docs += [household, county.home_visit(village, household["_id"]), county.patrol(village)]
    return recorded_by(docs, author) if author else docs


def invalid_records(village_code: str, *, author: str | None = None) -> list[dict]:
    bad_time, wrong_place = village_records(village_code, 1, seed=99, author=author)[1:3]
    bad_time = {**bad_time, "visited_at": "2024-08-25 09:30"}  # no time zone
    wrong_place = {**wrong_place, "place": OTHER_VILLAGE + "001"}  # outside the volunteer's scope
    return [bad_time, wrong_place]


def logged(county: County, doc_id: str) -> list[tuple[str, str]]:
    """The write log's (rev, outcome) rows of one document."""
    with county.app.app_context(), services().db.read() as conn:
        return conn.execute(
            "SELECT rev, outcome FROM write_log WHERE doc_id = ? ORDER BY id", (doc_id,)
        ).fetchall()


def county_store(county: County) -> Store:
    return county.app.extensions["fieldsync"].store


def quarantined(county: County) -> list[tuple[str, str]]:
    with county.app.app_context(), services().db.read() as conn:
        return conn.execute("SELECT doc_id, username FROM quarantine ORDER BY id").fetchall()
