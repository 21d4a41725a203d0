"""CouchStore's HTTP behaviour beyond the Store contract: auth, credentials, retries."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from support.couchdb import new_database
from support.fault_proxy import FakeSleep, Fault, FaultPlan, FaultProxy

from sync.couch_store import CouchStore
from sync.errors import PeerUnavailable, Unauthorized
from sync.http_client import RetryPolicy, split_credentials
from sync.open import open_store
from sync.sqlite_store import SqliteStore


@pytest.fixture
def user(couch_url: str) -> tuple[str, str]:
    name, password = f"vol-{uuid.uuid4().hex[:8]}", "山路十公里"
    answer = requests.put(
        f"{couch_url}/_users/org.couchdb.user:{name}",
        timeout=10,
        json={"name": name, "password": password, "roles": [], "type": "user"},
    )
    assert answer.status_code in (201, 202), answer.text
    return name, password


def test_cookie_auth_logs_in_once_and_works(couch_url: str, user: tuple[str, str]) -> None:
    name, password = user
    url = f"{couch_url}/cookie-{uuid.uuid4().hex[:8]}"
    # PouchDB Server crashes when a logged-in non-admin creates a database: make it first.
    CouchStore(url, create=True).close()
    with CouchStore(url, username=name, password=password, cookie_auth=True) as store:
        store.put({"_id": "a", "v": 1})
        assert store.get("a")["v"] == 1
        session = store.http._session()
        assert "AuthSession" in session.cookies
        assert "Authorization" not in session.headers  # no password on every request


def test_wrong_password_is_unauthorized(couch_url: str, user: tuple[str, str]) -> None:
    name, _ = user
    with (
        CouchStore(f"{couch_url}/x", username=name, password="wrong", cookie_auth=True) as store,
        pytest.raises(Unauthorized),
    ):
        store.info()


def test_credentials_in_the_url_never_reach_identity_or_logs() -> None:
    clean, user, password = split_credentials("http://zhang:s%40cret@127.0.0.1:5984/county/")
    assert (clean, user, password) == ("http://127.0.0.1:5984/county", "zhang", "s%40cret")
    store = CouchStore("http://zhang:secret@127.0.0.1:5984/county")
    assert "secret" not in store.identity() and "secret" not in store.url
    assert store.http.username == "zhang"


def test_5xx_and_drops_are_retried_then_reported(couch_url: str) -> None:
    url_name = f"retry-{uuid.uuid4().hex[:8]}"
    # Real backoff (up to 0.5, 1 and 2 s between the tries) on a fake clock.
    slept = FakeSleep()
    retry = RetryPolicy(attempts=4, base_delay=0.5, max_delay=2.0, sleep=slept)
    seen: list[str] = []
    steps = [Fault("status_500"), Fault("drop_response"), None]  # fails twice, then works
    with FaultProxy(
        upstream=couch_url, plan=FaultPlan.script(steps, only_paths="_bulk_docs")
    ) as proxy:
        with CouchStore(f"{proxy.url}/{url_name}", create=True, retry=retry) as store:
            store.http.on_retry = lambda what, attempt, problem: seen.append(problem)
            assert store.put({"_id": "a", "v": 1}).startswith("1-")
            assert seen == ["HTTP 500", seen[1]] and "Error" in seen[1]
            assert len(slept.delays) == 2  # one wait before each retry, none after success
            assert 0 <= slept.delays[0] <= 0.5 and 0 <= slept.delays[1] <= 1.0
            slept.delays.clear()
            proxy.plan = FaultPlan.script([Fault("status_500")] * 4, only_paths="_bulk_docs")
            with pytest.raises(PeerUnavailable) as caught:
                store.put({"_id": "b", "v": 1})
            assert "gave up after 4 tries" in caught.value.reason
            assert len(slept.delays) == 3  # none after the last try: it gives up at once
            assert all(0 <= d <= cap for d, cap in zip(slept.delays, [0.5, 1.0, 2.0], strict=True))
            store.http.request("DELETE")


def test_one_factory_opens_every_store_with_its_options(couch_url: str, tmp_path: Path) -> None:
    """`open_store` is the one factory (the county server's store is built by it too):
    a URL with the CouchStore options the server needs, a path with SqliteStore's; an
    option of the other kind is an error, not silently ignored."""
    with open_store(f"{couch_url}/open-{uuid.uuid4().hex[:8]}", compress=False) as remote:
        assert isinstance(remote, CouchStore) and remote.http.compress is False
        remote.put({"_id": "a"})
        remote.http.request("DELETE")
    with open_store(tmp_path / "sub" / "s.sqlite", revs_limit=7) as local:
        assert isinstance(local, SqliteStore) and local.revs_limit == 7
    with pytest.raises(ValueError, match="compress"):
        open_store(tmp_path / "s.sqlite", compress=True)
    with pytest.raises(ValueError, match="revs_limit"):
        open_store(f"{couch_url}/x", revs_limit=7)
    with pytest.raises(FileNotFoundError):
        open_store(tmp_path / "absent.sqlite", create=False)


def test_a_member_who_may_not_create_databases_opens_an_existing_one(apache_couchdb: str) -> None:
    """Found: `fieldsync replicate` opens its target with create=True; CouchDB answers a
    PUT of a non-admin with 401 even when the database exists, which read as a wrong
    password although the password was right."""
    url = new_database(apache_couchdb)
    base = url.rsplit("/", 1)[0]
    name = f"member-{uuid.uuid4().hex[:8]}"
    made = requests.put(
        f"{base}/_users/org.couchdb.user:{name}",
        json={"name": name, "password": "member-pass", "roles": [], "type": "user"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    secured = requests.put(
        f"{url}/_security", json={"members": {"names": [name]}, "admins": {}}, timeout=30
    )
    assert secured.status_code == 200, secured.text
    bare = url.split("@", 1)[1]
    with CouchStore(f"http://{name}:member-pass@{bare}", create=True) as store:
        assert store.put({"_id": "a", "x": 1}).startswith("1-")
