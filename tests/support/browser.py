"""A real browser for the tablet app's tests: Debian's chromium, headless, driven by
Playwright (never a browser Playwright downloads). Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_path() -> str:
    """Debian's chromium; `./dev test` installs it (FIELDSYNC_CHROMIUM overrides)."""
    path = os.environ.get("FIELDSYNC_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("chromium is not installed: ./dev test installs Debian's chromium package")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session; each test opens its own context."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """test-artifacts/<test name>/: where a browser test writes its screenshots."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]
    folder.mkdir(parents=True, exist_ok=True)
    return folder
