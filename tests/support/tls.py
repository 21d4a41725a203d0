"""A tablet that went through enrolment: Debian's chromium whose certificate store (NSS,
$HOME/.pki/nssdb) holds the county CA, and a LAN name for the hub that resolves to
127.0.0.1. No "ignore certificate errors": the real chain decides."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from .browser import chromium_path

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
