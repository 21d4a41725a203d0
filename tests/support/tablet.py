"""The tablet app in a real browser against a real county: a county server on a fixed
127.0.0.1 port (so it can be stopped and started again on the same origin, which keeps
the tablet's IndexedDB and service worker), and `Tablet`, a volunteer's hands on the app.
"""

from __future__ import annotations

import re
import socket
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from server.demo_county import DemoCounty, recorded_by
from sync import Store

from .county import PASSWORD, VILLAGE, County, county_store, live_county

OTHER_GRID = "422827101001001"  # a grid of 舍米湖村, outside 白岩村's volunteers' scope


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class FieldCounty:
    """A county for the tablet tests: 白岩村's places, two volunteers and a household,
    served on `port` until `stop()`; `start()` serves the same data on the same port."""

    data_dir: Path
    port: int
    county: County | None = None
    _running: Any = None
    households: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> County:
        self._running = live_county(self.data_dir, None, port=self.port)
        self.county = self._running.__enter__()
        return self.county

    def stop(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None

    @property
    def store(self) -> Store:
        assert self.county is not None
        return county_store(self.county)

    def on_server(self, author: str, doc_type: str | None = None) -> list[dict]:
        """Every live record on the server by `author` (a username)."""
        docs = [row["doc"] for row in self.store.all_docs(include_docs=True)]
        return [
            doc
            for doc in docs
            if doc.get("author") == f"user:{author}"
            and (doc_type is None or doc["type"] == doc_type)
        ]


@contextmanager
def field_county(data_dir: Path) -> Iterator[FieldCounty]:
    running = FieldCounty(data_dir, free_port())
    county = running.start()
    try:
        county.add_places(VILLAGE)
        for name in ("xiaowang", "xiaoli"):
            county.add_user(name, "volunteer", VILLAGE)
        county.add_user("chenke", "county_staff", VILLAGE[:6])
        demo = DemoCounty(seed=3)
        village = next(v for v in demo.villages if v.code == VILLAGE)
        running.households = recorded_by([demo.household(village) for _ in range(3)], "xiaoli")
        rows = running.store.bulk_docs(running.households)
        assert all(row.get("ok") for row in rows), rows
        yield running
    finally:
        running.stop()


@pytest.fixture
def tablet_county(tmp_path: Path) -> Iterator[FieldCounty]:
    with field_county(tmp_path / "county") as running:
        yield running


class Tablet:
    """One browser page of the app, and the steps a volunteer takes in it."""

    def __init__(self, page: Any, base_url: str, artifacts: Path) -> None:
        self.page = page
        self.base = base_url
        self.artifacts = artifacts
        self.errors: list[str] = []
        self.shots = 0
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, hash_: str = "") -> None:
        self.page.goto(f"{self.base}/app/{hash_}")
        self.page.wait_for_selector("body[data-ready=true]", timeout=30000)

    def shot(self, name: str) -> Path:
        self.shots += 1
        path = self.artifacts / f"{self.shots:02d}-{name}.png"
        # A full-page shot of a sticky bar paints it mid-page: unstick it for the shot.
        unstick = "#bar, #notice { position: static !important; }"
        self.page.screenshot(path=str(path), full_page=True, style=unstick)
        return path

    def sign_in(self, name: str, password: str = PASSWORD) -> None:
        if not self.page.locator("#username").count():
            self.page.click("#other-account")
        self.page.fill("#username", name)
        self.page.fill("#password", password)
        self.page.click("#sign-in")
        self.page.wait_for_selector("#records", timeout=60000)
        self.wait_sync_idle()

    def unlock(self, name: str, secret: str) -> None:
        self.page.click(f"[data-account='{name}']")
        self.page.fill("#secret", secret)
        self.page.click("#unlock")
        done = """() => document.querySelector('#records')
            || document.querySelector('#unlock-error')?.textContent"""
        self.page.wait_for_function(done, timeout=30000)

    def wait_sync_idle(self) -> None:
        idle = "() => !document.querySelector('#sync-now')?.disabled"
        self.page.wait_for_function(idle, timeout=60000)

    def new(self, doc_type: str) -> None:
        self.page.click(f"[data-new={doc_type}]")
        self.page.wait_for_selector("#save")

    def field(self, path: str) -> Any:
        return self.page.locator(f'[data-path="{path}"]').first

    def fill(self, path: str, value: str) -> None:
        self.field(path).locator("input, textarea").first.fill(value)

    def choose(self, path: str, value: str) -> None:
        box = self.field(path)
        if box.locator("select").count():
            box.locator("select").first.select_option(value)
        else:
            box.locator(f"input[value='{value}']").first.check()

    def message(self, path: str) -> str:
        return self.field(path).locator(".message").first.inner_text()

    def save(self) -> None:
        self.page.click("#save")

    def saved(self) -> None:
        """Save, and wait until the app is back on the home screen."""
        self.save()
        self.page.wait_for_selector("#records", timeout=10000)

    def set_language(self, lang: str) -> None:
        current = self.page.evaluate("document.documentElement.lang")
        if (lang == "en") != (current == "en"):
            self.redrawn(lambda: self.page.click("#language"))

    def redrawn(self, action: Any) -> None:
        """Do `action` and wait until the app has drawn its screen again."""
        before = self.page.evaluate("Number(document.body.dataset.renders || 0)")
        action()
        self.page.wait_for_function(
            f"() => Number(document.body.dataset.renders || 0) > {before}", timeout=30000
        )

    def sync(self) -> str:
        """Sync now; the status line once this sync is done (or failed)."""
        self.wait_sync_idle()
        syncs = "Number(document.querySelector('#sync-status').dataset.syncs || 0)"
        before = self.page.evaluate(syncs)
        self.page.click("#sync-now")
        self.page.wait_for_function(
            f"""() => {syncs} > {before} && ['done', 'failed']
                .includes(document.querySelector('#sync-status').dataset.state)""",
            timeout=60000,
        )
        return self.page.inner_text("#sync-status")

    def records(self) -> dict[str, str]:
        """My records as the list shows them: {id: state}."""
        self.page.wait_for_selector("#records")
        rows = self.page.locator("#records li[data-id]")
        return {
            rows.nth(i).get_attribute("data-id"): rows.nth(i).get_attribute("data-state")
            for i in range(rows.count())
        }

    def local_doc(self, username: str, doc_id: str) -> dict | None:
        return self.page.evaluate(
            """async ([name, id]) => {
                try { return await new PouchDB(`fieldsync-${name}`).get(id); }
                catch (e) { if (e.status === 404) return null; throw e; }
            }""",
            [username, doc_id],
        )


def png(width: int, height: int) -> bytes:
    """A real PNG photo stand-in (a colour gradient), for the camera input."""
    row = bytes(range(256)) * (width * 3 // 256 + 1)
    raw = b"".join(b"\0" + row[y % 7 : y % 7 + width * 3] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def digits(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]
