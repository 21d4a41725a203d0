"""Apache CouchDB 3.5 for the tests, from the ready-built release in ``../shared/couchdb``.

One node runs for the whole session on a free 127.0.0.1 port (its Erlang distribution
on the port after it), with its data in the session's temporary folder, and is stopped
with SIGTERM at the end. Where the release is not beside the checkout, every test that
needs it is skipped with a notice naming the path that was looked for (the rest of the
suite runs against pouchdb-server). ``FIELDSYNC_COUCHDB_NODE`` names another
``couchdb-node`` script.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .peer_server import free_port

REPO = Path(__file__).resolve().parents[2]
NODE_SCRIPT = Path(
    os.environ.get("FIELDSYNC_COUCHDB_NODE", REPO.parent / "shared" / "couchdb" / "couchdb-node")
)
ADMIN = ("admin", "admin")
START_TIMEOUT = 60.0  # first start unpacks the release (~10 s); later ones take ~3 s
STOP_GRACE = 10.0


def couchdb_available() -> bool:
    return os.access(NODE_SCRIPT, os.X_OK)


def skip_without_couchdb() -> None:
    if not couchdb_available():
        pytest.skip(
            f"Apache CouchDB is not here ({NODE_SCRIPT} is missing): "
            "these checks ran against pouchdb-server only"
        )


def _free_pair() -> int:
    """A port that is free, with the one after it free too (Erlang distribution)."""
    for _ in range(50):
        port = free_port()
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


@contextlib.contextmanager
def running_couchdb(data_dir: Path) -> Iterator[str]:
    """Run one CouchDB node in `data_dir`; yield its base URL with admin credentials."""
    port = _free_pair()
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(NODE_SCRIPT), str(data_dir), str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"CouchDB exited with {process.returncode}: {_log_tail(data_dir)}"
                )
            try:
                # Up, and its system databases made (a single node makes _users and
                # _replicator just after it starts answering).
                ready = requests.get(f"{base}/_up", timeout=2).status_code == 200 and all(
                    requests.get(f"{base}/{name}", auth=ADMIN, timeout=2).status_code == 200
                    for name in ("_users", "_replicator")
                )
                if ready:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"CouchDB did not come up in {START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        yield f"http://{ADMIN[0]}:{ADMIN[1]}@127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _log_tail(data_dir: Path, lines: int = 30) -> str:
    try:
        text = (data_dir / "couchdb.log").read_text(errors="replace")
    except FileNotFoundError:
        return "(no couchdb.log)"
    return "\n".join(text.splitlines()[-lines:])


def new_database(base_url: str, *, shards: int = 2) -> str:
    """A fresh database on the node (two shards by default, so `_changes` order and
    sequences are a cluster's, not one file's); its full URL."""
    url = f"{base_url}/test-{uuid.uuid4().hex}"
    answer = requests.put(url, params={"q": shards}, timeout=30)
    assert answer.status_code in (201, 202), answer.text
    return url


@pytest.fixture(scope="session")
def apache_couchdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (with admin credentials) of a CouchDB 3.5 node shared by the session."""
    skip_without_couchdb()
    with running_couchdb(tmp_path_factory.mktemp("apache-couchdb")) as url:
        yield url


@pytest.fixture
def apache_couchdb_db(apache_couchdb: str) -> Iterator[str]:
    """A fresh two-shard database on the session's CouchDB, deleted afterwards."""
    url = new_database(apache_couchdb)
    try:
        yield url
    finally:
        requests.delete(url, timeout=30)
