"""Two county gateway processes (`fieldsync serve`, each with its own data directory) over
one CouchDB-protocol store: accounts, lockouts, checkpoints and the quarantine are
documents of the shared stores, so what one process does the other answers alike.
Run over pouchdb-server and, where present, Apache CouchDB."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from support.app import basic_auth
from support.county import VILLAGE, invalid_records, reference_docs
from support.serve_process import served_url

from sync.open import open_store

FIELDSYNC = str(Path(sys.executable).parent / "fieldsync")
PASSWORD = "两个进程-共用一库"


@pytest.fixture(params=["pouchdb-server", "apache-couchdb"])
def shared_url(request: pytest.FixtureRequest) -> str:
    base = request.getfixturevalue("couch_url" if request.param == "pouchdb-server"
                                   else "apache_couchdb")  # fmt: skip
    return f"{base}/county-{uuid.uuid4().hex[:10]}"


def run(url: str, data_dir: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [FIELDSYNC, *args, "--data-dir", str(data_dir)],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "FIELDSYNC_COUCHDB_URL": url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def gateway(url: str, data_dir: Path) -> Iterator[str]:
    with subprocess.Popen(
        [FIELDSYNC, "serve", "--data-dir", str(data_dir), "--port", "0"],
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "FIELDSYNC_COUCHDB_URL": url, "FIELDSYNC_LOGIN_MAX_FAILURES": "3"},
    ) as server:  # fmt: skip
        try:
            yield served_url(server)
        finally:
            server.terminate()
            server.wait(timeout=30)


def login(base: str, name: str, password: str = PASSWORD) -> int:
    answer = requests.post(f"{base}/_session", json={"name": name, "password": password},
                           timeout=30)  # fmt: skip
    return answer.status_code


def test_two_gateway_processes_share_accounts_lockouts_checkpoints_and_quarantine(
    shared_url: str, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    run(shared_url, one, "admin", "init")
    run(shared_url, two, "admin", "init")
    with open_store(shared_url) as store:
        assert all(row.get("ok") for row in store.bulk_docs(reference_docs(VILLAGE)))
    for name, role, scope in (("xiaowang", "volunteer", VILLAGE),
                              ("chen", "county_staff", VILLAGE[:6])):  # fmt: skip
        run(shared_url, one, "admin", "create-user", name, "--role", role, "--scope", scope,
            "--display-name", name, "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    with gateway(shared_url, one) as first, gateway(shared_url, two) as second:
        # Created through one, signs in through the other.
        assert login(second, "xiaowang") == 200
        # Deactivated through one, refused by the other; active again through the other.
        run(shared_url, one, "admin", "deactivate", "xiaowang")
        assert login(second, "xiaowang") == 401
        run(shared_url, two, "admin", "activate", "xiaowang")
        assert login(first, "xiaowang") == 200
        # Locked out through one (3 failures here), locked out on the other too.
        for _ in range(3):
            assert login(first, "xiaowang", "wrong password") == 401
        assert login(second, "xiaowang") == 429
        # A tablet's checkpoint written through one is read through the other.
        auth = basic_auth("chen", PASSWORD)
        put = requests.put(f"{first}/db/_local/tablet-cp", json={"last_seq": 7}, headers=auth,
                           timeout=30)  # fmt: skip
        assert put.status_code == 201, put.text
        read = requests.get(f"{second}/db/_local/tablet-cp", headers=auth, timeout=30).json()
        assert read["last_seq"] == 7 and read["_rev"] == put.json()["rev"]
        stale = requests.put(f"{second}/db/_local/tablet-cp", json={"last_seq": 8}, headers=auth,
                             timeout=30)  # fmt: skip
        assert stale.status_code == 409  # no _rev: the other process's write is seen
        # A refusal quarantined by one is listed by the other.
        bad = invalid_records(VILLAGE, author="chen")
        pushed = requests.post(f"{first}/db/_bulk_docs", json={"docs": bad}, headers=auth,
                               timeout=30)  # fmt: skip
        assert all("error" in row for row in pushed.json()), pushed.text
        listed = requests.get(f"{second}/staff/quarantine", headers=auth, timeout=30).json()
        assert sorted(item["doc_id"] for item in listed["items"]) == sorted(d["_id"] for d in bad)
