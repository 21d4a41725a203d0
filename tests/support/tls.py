"""A tablet that went through enrolment: Debian's chromium whose certificate store (NSS,
$HOME/.pki/nssdb) holds the county CA, and a LAN name for the hub that resolves to
127.0.0.1. No "ignore certificate errors": the real chain decides."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from server.app import create_app
from server.tls.serving import HttpsServer

from .browser import chromium_path
from .county import County

HUB_NAME = "hub.station.lan"


def tablet_home(directory: Path, ca: Path | None) -> Path:
    """A home directory whose NSS store holds `ca` (an enrolled tablet), or nothing."""
    nssdb = directory / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    if ca is not None:
        subprocess.run(
            ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "fieldsync county CA",
             "-i", str(ca)],
            check=True,
        )  # fmt: skip
    return directory


def launch_tablet(browser: Any, home: Path) -> Any:
    """A chromium of its own with `home`'s certificate store, the hub's name on loopback."""
    return browser.browser_type.launch(
        executable_path=chromium_path(),
        env={**os.environ, "HOME": str(home)},
        args=[f"--host-resolver-rules=MAP {HUB_NAME} 127.0.0.1"],
    )


@contextmanager
def https_server(data_dir: Path, cert: Path, key: Path, port: int = 0) -> Iterator[County]:
    """A county or station hub as `fieldsync serve --cert --key` serves it: the app over
    `data_dir`, under server/tls/serving.py, at https://hub.station.lan:PORT."""
    app = create_app(
        {"DATA_DIR": str(data_dir), "TESTING": True, "SECRET_KEY": "test",
         "LONGPOLL_SECONDS": 2, "FEED_SLOTS": 4, "SESSION_COOKIE_SECURE": True}
    )  # fmt: skip
    server = HttpsServer(app, "127.0.0.1", port, 4, cert, key)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield County(app, f"https://{HUB_NAME}:{server.effective_port}")
    finally:
        server.close()
        thread.join(timeout=10)
        app.extensions["fieldsync"].close()
