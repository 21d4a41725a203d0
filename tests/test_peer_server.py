"""The pouchdb-server fixture itself: it answers the CouchDB protocol and cleans up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from support.peer_server import running_pouchdb_server


def test_couch_db_round_trip(couch_db: str) -> None:
    with requests.Session() as session:
        saved = session.put(f"{couch_db}/doc-1", json={"value": 42}, timeout=10)
        assert saved.status_code == 201, saved.text
        rev = saved.json()["rev"]
        assert rev.startswith("1-")

        doc = session.get(f"{couch_db}/doc-1", timeout=10).json()
        assert doc == {"_id": "doc-1", "_rev": rev, "value": 42}

        changes = session.get(f"{couch_db}/_changes", timeout=10).json()
        assert [(row["id"], row["changes"]) for row in changes["results"]] == [
            ("doc-1", [{"rev": rev}])
        ]


def test_couch_db_is_fresh(couch_db: str) -> None:
    info = requests.get(couch_db, timeout=10).json()
    assert info["doc_count"] == 0
    assert info["update_seq"] == 0


def _pids_with_cwd_under(directory: Path) -> list[int]:
    """Processes whose working directory is inside `directory` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # gone meanwhile, or not ours to inspect
            continue
        if cwd == directory or directory in cwd.parents:
            found.append(int(entry.name))
    return found


@pytest.mark.peer
def test_server_process_is_gone_after_exit(tmp_path: Path) -> None:
    if not Path("/proc/self/cwd").exists():
        pytest.skip("needs Linux /proc to find the server's processes")
    server_dir = (tmp_path / "server").resolve()
    with running_pouchdb_server(server_dir) as url:
        assert requests.get(url + "/", timeout=10).json()["express-pouchdb"] == "Welcome!"
        assert _pids_with_cwd_under(server_dir), "the server should run in its own directory"
        assert (server_dir / "log.txt").exists()
    assert _pids_with_cwd_under(server_dir) == []
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/", timeout=2)


def test_missing_binary_fails_with_set_up_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import support.peer_server as peer_server

    monkeypatch.setattr(peer_server, "POUCHDB_SERVER_BIN", tmp_path / "no-such-binary")
    with pytest.raises(pytest.fail.Exception, match=r"run `\./dev test`"):
        with running_pouchdb_server(tmp_path / "server"):
            pass


def test_start_up_failure_shows_log_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import support.peer_server as peer_server

    fake = tmp_path / "fake-server"
    fake.write_text("#!/bin/sh\necho 'Error: listen EADDRINUSE (simulated)'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(peer_server, "POUCHDB_SERVER_BIN", fake)
    with pytest.raises(peer_server.PeerStartError, match="EADDRINUSE \\(simulated\\)"):
        with running_pouchdb_server(tmp_path / "server"):
            pass


def test_stop_kills_a_server_that_ignores_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    import support.peer_server as peer_server

    monkeypatch.setattr(peer_server, "STOP_GRACE", 0.3)
    # One process (no orphans left for init to reap) that shrugs off SIGTERM.
    wedged = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    wedged += "print('ready', flush=True); time.sleep(30)"
    process = subprocess.Popen(
        [sys.executable, "-c", wedged], stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"  # SIGTERM is ignored from here on
    process.stdout.close()
    peer_server._stop(process)
    assert process.returncode == -9
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # nothing is left in its process group
