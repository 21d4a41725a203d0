"""Apache CouchDB 3.5's own replicator against the gateway's `/db`, on both backends.

CouchDB pulls from and pushes to `/db` with a gateway user's Basic credentials in the
URL, one-shot (`POST /_replicate`) and continuous (`_replicator` documents). Before:
every checkpoint failed (`POST /db/_ensure_full_commit` was a 405); a one-shot pull
copied 1,000 of 1,088 documents and reported success (`_changes` without a limit stopped
at 1,000 rows); a continuous pull got an ordinary JSON answer to `feed=continuous`,
skipped every row and then polled the gateway about 1,000 times a second.

The gateway runs under waitress here, as `fieldsync serve` runs it: CouchDB's replicator
reuses pooled HTTP/1.1 connections, which werkzeug's HTTP/1.0 test server closes.
CouchDB's replicator does not percent-decode credentials in a URL, so the gateway user
has an ASCII password.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from support.couchdb import new_database
from support.county import OTHER_VILLAGE, VILLAGE, County, county_store, quarantined
from support.standard_clients import authored, ids_in_scope
from support.waitress_county import waitress_county

from server.demo_county import DemoCounty
from server.services import services

USER, ADMIN = "zhou", "xinxi"
PASSWORD = "field-pass-2024"  # ASCII: CouchDB sends URL credentials as written
PATROLS = 1_088
PHOTO = b"\xff\xd8\xff\xe0 a spring below the ridge " + bytes(range(256)) * 8
NOTE = "水质清澈，全年不断流。".encode() * 60  # text: CouchDB stores it gzip-encoded


@dataclass
class Gateway:
    county: County
    demo: DemoCounty

    def url(self, username: str = USER) -> str:
        host = self.county.url.removeprefix("http://")
        return f"http://{username}:{PASSWORD}@{host}/db"

    def record(self, kind: str = "patrol") -> dict:
        village = next(v for v in self.demo.villages if v.code == VILLAGE)
        return authored(getattr(self.demo, kind)(village), USER)

    def water_source(self) -> dict:
        doc = self.record("water_source")
        doc["_attachments"] = {
            "photo.jpg": {"content_type": "image/jpeg", "data": base64.b64encode(PHOTO).decode()},
            "note.txt": {"content_type": "text/plain", "data": base64.b64encode(NOTE).decode()},
        }
        return doc


def _add_user(county: County, username: str, role: str, scope: str) -> None:
    county.add_user(username, role, scope)
    with county.app.app_context():
        services().users.set_password(username, PASSWORD)


@pytest.fixture(scope="module", params=["embedded", "couchdb"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, apache_couchdb: str
) -> Iterator[Gateway]:
    couch_url = request.getfixturevalue("couch_url") if request.param == "couchdb" else None
    data_dir: Path = tmp_path_factory.mktemp("county")
    with waitress_county(data_dir, couch_url, LONGPOLL_SECONDS=2) as county:
        _add_user(county, USER, "volunteer", VILLAGE)
        _add_user(county, ADMIN, "admin", "422827")
        gw = Gateway(county, DemoCounty(seed=51))
        village = next(v for v in gw.demo.villages if v.code == VILLAGE)
        elsewhere = next(v for v in gw.demo.villages if v.code == OTHER_VILLAGE)
        docs = [gw.demo.patrol(village) for _ in range(PATROLS)]
        household = gw.demo.household(village)
        docs += [household, gw.demo.home_visit(village, household["_id"]), gw.water_source()]
        docs += [gw.demo.patrol(elsewhere) for _ in range(3)]
        store = county_store(county)
        for start in range(0, len(docs), 500):
            assert all(row.get("ok") for row in store.bulk_docs(docs[start : start + 500]))
        yield gw


def replicate(couch: str, **job: object) -> dict:
    answer = requests.post(f"{couch}/_replicate", json=job, timeout=300)
    assert answer.status_code == 200, answer.text[:800]
    return answer.json()


def _ids(db_url: str) -> set[str]:
    rows = requests.get(f"{db_url}/_all_docs", timeout=60).json()["rows"]
    return {row["id"] for row in rows if not row["id"].startswith("_design/")}


def eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_a_one_shot_pull_copies_everything_in_scope_and_checkpoints(
    gateway: Gateway, apache_couchdb: str
) -> None:
    target = new_database(apache_couchdb)
    answer = replicate(apache_couchdb, source=gateway.url(), target=target)
    (history, *_) = answer["history"]
    expected = ids_in_scope(gateway.county, VILLAGE)
    assert len(expected) > PATROLS > 1000
    assert _ids(target) == expected
    assert history["doc_write_failures"] == 0 and history["docs_written"] == len(expected)
    assert answer["source_last_seq"] == requests.get(gateway.url(), timeout=30).json()["update_seq"]
    water = next(i for i in expected if i.startswith("water_source:"))
    photo = requests.get(f"{target}/{water}/photo.jpg", timeout=30)
    note = requests.get(f"{target}/{water}/note.txt", timeout=30)
    assert photo.content == PHOTO and note.content == NOTE
    # The checkpoint was written (on both ends), so a second run starts from it.
    again = replicate(apache_couchdb, source=gateway.url(), target=target)
    assert again.get("no_changes") or again["history"][0]["missing_checked"] == 0


def test_an_admin_pull_never_receives_personal_data(gateway: Gateway, apache_couchdb: str) -> None:
    target = new_database(apache_couchdb)
    replicate(apache_couchdb, source=gateway.url(ADMIN), target=target)
    copied = _ids(target)
    assert copied == ids_in_scope(gateway.county, "422827", personal=False)
    assert not {i.partition(":")[0] for i in copied} & {"home_visit", "household"}


def test_a_one_shot_push_goes_through_the_push_pipeline(
    gateway: Gateway, apache_couchdb: str
) -> None:
    source = new_database(apache_couchdb)
    good = [gateway.record() for _ in range(5)] + [gateway.water_source()]
    bad = {**gateway.record(), "started_at": "yesterday"}  # refused by the schemas
    for doc in [*good, bad]:
        assert requests.post(source, json=doc, timeout=30).status_code in (201, 202)
    answer = replicate(apache_couchdb, source=source, target=gateway.url())
    history = answer["history"][0]
    assert history["docs_written"] == len(good) and history["doc_write_failures"] == 1
    store = county_store(gateway.county)
    for doc in good:
        assert (
            store.get(doc["_id"])["_rev"] == requests.get(f"{source}/{doc['_id']}").json()["_rev"]
        )
    water = good[-1]["_id"]
    assert store.get_attachment(water, "photo.jpg").data == PHOTO
    assert store.get_attachment(water, "note.txt").data == NOTE  # sent gzip-encoded
    assert bad["_id"] in {doc_id for doc_id, _ in quarantined(gateway.county)}


class Counting:
    """WSGI middleware counting `_changes` requests (to see a replicator polling)."""

    def __init__(self, app: Callable) -> None:
        self.app, self.count, self.lock = app, 0, threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> object:
        if environ.get("PATH_INFO", "").endswith("/_changes"):
            with self.lock:
                self.count += 1
        return self.app(environ, start_response)


def test_continuous_replication_both_ways_crosses_writes_and_does_not_poll(
    gateway: Gateway, apache_couchdb: str
) -> None:
    couch_db = new_database(apache_couchdb)
    pull = {"source": gateway.url(), "target": couch_db, "continuous": True}
    push = {"source": couch_db, "target": gateway.url(), "continuous": True}
    jobs = f"{apache_couchdb}/_replicator"
    requests.put(jobs, timeout=30)  # exists already on most nodes
    ids = []
    for job in (pull, push):
        created = requests.post(jobs, json=job, timeout=30)
        assert created.status_code in (201, 202), created.text
        ids.append(created.json())
    counting = Counting(gateway.county.app.wsgi_app)
    gateway.county.app.wsgi_app = counting  # type: ignore[method-assign]
    try:
        expected = ids_in_scope(gateway.county, VILLAGE)
        assert eventually(lambda: expected <= _ids(couch_db), 90), "the pull never caught up"
        # A record written on the gateway crosses to CouchDB ...
        on_gateway = gateway.record()
        with gateway.county.session(USER) as session:
            session.auth = (USER, PASSWORD)
            del session.headers["Authorization"]
            put = session.put(f"{gateway.county.url}/db/{on_gateway['_id']}", json=on_gateway)
            assert put.status_code == 201, put.text
        assert eventually(lambda: on_gateway["_id"] in _ids(couch_db)), "gateway > CouchDB"
        # ... and one written on CouchDB crosses to the gateway, through the push pipeline.
        on_couch = gateway.record()
        assert requests.post(couch_db, json=on_couch, timeout=30).status_code in (201, 202)
        store = county_store(gateway.county)
        # CouchDB's scheduler takes its time on a loaded machine (seen: over 30 s once
        # while the whole suite ran on two cores); the check is that it arrives.
        crossed = lambda: bool(store.open_revs(on_couch["_id"], "all"))  # noqa: E731
        assert eventually(crossed, seconds=90), "CouchDB > gw"
        # Quiet now: the continuous pull waits on its feed instead of polling.
        before = counting.count
        time.sleep(3)
        polled = counting.count - before
        assert polled < 30, f"{polled} _changes requests in 3 s while nothing changed"
        for job in ids:
            state = requests.get(f"{apache_couchdb}/_scheduler/docs/_replicator/{job['id']}")
            assert state.json().get("state") in ("running", "pending"), state.text
    finally:
        gateway.county.app.wsgi_app = counting.app  # type: ignore[method-assign]
        for job in ids:
            requests.delete(f"{jobs}/{job['id']}", params={"rev": job["rev"]}, timeout=30)
