"""Run the real CouchDB-protocol peer (pouchdb-server from npm) for the test suite.

The binary lives in ``tests/peers/node_modules`` (``./dev test`` installs it
from ``tests/peers/package.json``). The server runs in memory, bound to
127.0.0.1 only, in its own process group and working directory (it writes
``config.json`` and ``log.txt`` into its cwd), with its logs kept in files so
they do not flood the test output but can be shown when start-up fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

PEERS_DIR = Path(__file__).resolve().parent.parent / "peers"
POUCHDB_SERVER_BIN = PEERS_DIR / "node_modules" / ".bin" / "pouchdb-server"

START_TIMEOUT = 30.0  # seconds; cold node start is ~1 s, CI machines can be slow
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
_PORT_ATTEMPTS = 3  # the free port we pick can be taken before the server binds it
_LOG_TAIL_LINES = 40


class PeerStartError(RuntimeError):
    """pouchdb-server did not come up; the message carries the tail of its logs."""


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path.name}: not written)"
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def _has_exited(process: subprocess.Popen) -> bool:
    """True once the server has exited, without reaping it.

    While it is an unreaped zombie its pid, and so its process group id, cannot
    be reused, which makes signalling the group afterwards safe.
    """
    if process.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the whole process group, SIGKILL it if it lingers, then reap the leader."""
    if not _has_exited(process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while not _has_exited(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    if process.returncode is None:
        # Children of node (none expected today) would outlive their parent, so
        # the group is killed even when the leader has exited already.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_until_up(process: subprocess.Popen, url: str, deadline: float) -> bool:
    """True once ``GET /`` answers; False if the process died first."""
    with requests.Session() as session:
        while time.monotonic() < deadline:
            if _has_exited(process):
                return False
            try:
                answer = session.get(url + "/", timeout=2)
                if answer.status_code == 200 and "express-pouchdb" in answer.json():
                    return True
            except (requests.ConnectionError, requests.Timeout, ValueError):
                pass
            time.sleep(0.1)
    raise PeerStartError(f"pouchdb-server did not answer GET {url}/ within {START_TIMEOUT:.0f} s")


@contextlib.contextmanager
def running_pouchdb_server(tmp_dir: str | os.PathLike) -> Iterator[str]:
    """Run an in-memory pouchdb-server on 127.0.0.1 and yield its base URL.

    ``tmp_dir`` becomes the server's working directory and holds its logs
    (``server.out`` for stdout/stderr, ``log.txt`` written by the server).
    Fails the test (not skip) when the binary is missing: these peers are the
    reference the sync code is checked against, so silently skipping would
    hide a broken set-up.
    """
    if not os.access(POUCHDB_SERVER_BIN, os.X_OK):
        pytest.fail(
            f"pouchdb-server is not installed ({POUCHDB_SERVER_BIN} is missing): "
            "run `./dev test`, which installs the test peers with npm",
            pytrace=False,
        )
    cwd = Path(tmp_dir)
    cwd.mkdir(parents=True, exist_ok=True)
    out_path = cwd / "server.out"
    last_error = ""
    for _attempt in range(_PORT_ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(out_path, "ab") as out:
            process = subprocess.Popen(
                [
                    str(POUCHDB_SERVER_BIN),
                    "--in-memory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-stdout-logs",
                    "--no-color",
                ],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, so we can kill all of it
            )
        try:
            up = _wait_until_up(process, url, time.monotonic() + START_TIMEOUT)
        except BaseException as exc:
            _stop(process)
            if isinstance(exc, PeerStartError):
                raise PeerStartError(
                    f"{exc}\n{_tail(out_path)}\n{_tail(cwd / 'log.txt')}"
                ) from None
            raise
        if up:
            try:
                yield url
            finally:
                _stop(process)
            return
        # It exited during start-up, most likely because the port was taken.
        _stop(process)
        last_error = f"pouchdb-server exited with status {process.returncode} on port {port}"
    raise PeerStartError(
        f"{last_error} (tried {_PORT_ATTEMPTS} ports)\n{_tail(out_path)}\n{_tail(cwd / 'log.txt')}"
    )
