"""Chromium as a real OS process on a persistent profile, so a test can cut its power:
`kill()` SIGKILLs the whole process group (browser, renderers, storage and GPU
processes) with no chance to flush or close anything, and the next `killable_chromium`
on the same profile finds whatever IndexedDB had really written.

A SIGKILL leaves the OS page cache intact: this proves the app's writes are atomic and
ordered as it acknowledges them, not that Chromium fsyncs them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .browser import chromium_path

START_SECONDS = 20.0


@dataclass
class KillableBrowser:
    process: subprocess.Popen
    browser: Any  # Playwright's Browser, attached over CDP
    killed: bool = False  # kill() was called (from any thread)

    @property
    def page(self) -> Any:
        """The profile's one tab (the about:blank it was started with)."""
        context = self.browser.contexts[0]
        return context.pages[0] if context.pages else context.new_page()

    def kill(self) -> None:
        """The power cut: SIGKILL every process of the browser at once."""
        self.killed = True
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _devtools_port(profile: Path, process: subprocess.Popen) -> int:
    """The port Chromium chose (--remote-debugging-port=0 writes it to the profile)."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        try:
            first = marker.read_text().split("\n", 1)[0]
        except FileNotFoundError:
            first = ""
        if first.isdigit():
            return int(first)
        time.sleep(0.05)
    raise TimeoutError(f"chromium wrote no DevToolsActivePort in {START_SECONDS} s")


@contextmanager
def killable_chromium(browser_type: Any, profile: Path) -> Iterator[KillableBrowser]:
    """Start Debian's chromium headless on `profile` and attach Playwright to it
    (`browser_type` is `playwright.chromium`, e.g. the `browser` fixture's
    `browser_type`). On leaving, whatever is still running is killed."""
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "DevToolsActivePort").unlink(missing_ok=True)  # left by a killed run
    process = subprocess.Popen(
        [
            chromium_path(),
            "--headless=new",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--no-first-run",
            "--no-default-browser-check",
            "--no-sandbox",  # containers rarely allow its namespaces; Playwright does the same
            "--window-size=360,640",
            "--lang=zh-CN",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, for killpg
    )
    running = KillableBrowser(process, None)
    try:
        port = _devtools_port(profile, process)
        running.browser = browser_type.connect_over_cdp(f"http://127.0.0.1:{port}", timeout=15000)
        yield running
    finally:
        running.kill()
        process.wait(timeout=10)
        if running.browser is not None:
            try:
                running.browser.close()
            except Exception:  # noqa: BLE001  the connection died with the process
                pass
