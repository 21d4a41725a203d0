"""The tablet app over HTTPS with the county CA's chain, as a station hub will serve it:
an enrolled tablet signs in over TLS (the session cookie marked Secure), the service
worker takes the app offline, a record saved offline syncs once the server is back.
The server is `fieldsync serve --cert --key`'s: server/tls/serving.py under cheroot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.county import VILLAGE, County, county_store
from support.tablet import Tablet, free_port
from support.tls import HUB_NAME, https_server, launch_tablet, tablet_home

from server.tls.authority import create_authority, issue_hub_certificate

pytestmark = pytest.mark.browser


class HttpsCounty:
    """The county served over HTTPS on a port of its own, stopped and started again."""

    def __init__(self, data_dir: Path, cert: Path, key: Path) -> None:
        self.data_dir, self.cert, self.key = data_dir, cert, key
        self.port = free_port()
        self.county: County | None = None
        self._running: Any = None

    def start(self) -> County:
        self._running = https_server(self.data_dir, self.cert, self.key, self.port)
        self.county = self._running.__enter__()
        return self.county

    def stop(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None


@pytest.fixture
def https_county(tmp_path: Path) -> Iterator[HttpsCounty]:
    create_authority(tmp_path / "ca", "来凤县")
    issued = issue_hub_certificate(tmp_path / "ca", tmp_path / "hub", (HUB_NAME,), ("127.0.0.1",))
    running = HttpsCounty(tmp_path / "county", issued.cert, issued.key)
    county = running.start()
    county.add_places(VILLAGE)
    county.add_user("xiaowang", "volunteer", VILLAGE)
    try:
        yield running
    finally:
        running.stop()


def test_an_enrolled_tablet_uses_the_app_over_https_and_offline(
    browser: Any, https_county: HttpsCounty, tmp_path: Path, artifacts: Path
) -> None:
    home = tablet_home(tmp_path / "tablet", tmp_path / "ca" / "county-ca.crt")
    launched = launch_tablet(browser, home)
    try:
        context = launched.new_context(viewport={"width": 360, "height": 640}, locale="zh-CN")
        assert https_county.county is not None
        tablet = Tablet(context.new_page(), https_county.county.url, artifacts)
        tablet.open()
        assert tablet.page.evaluate("location.protocol") == "https:"
        tablet.sign_in("xiaowang")
        (cookie,) = [c for c in context.cookies() if c["domain"] == HUB_NAME]
        assert cookie["secure"] is True
        tablet.page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        tablet.shot("signed-in-over-https")

        https_county.stop()
        context.set_offline(True)
        tablet.page.reload()
        tablet.page.wait_for_selector("#records", timeout=30000)
        assert tablet.page.evaluate("!!navigator.serviceWorker.controller")
        tablet.new("patrol")
        tablet.choose("place", VILLAGE + "001")
        tablet.fill("started_at", "2026-12-01T08:00")
        tablet.fill("ended_at", "2026-12-01T10:00")
        tablet.saved()
        (record_id,) = tablet.records()
        tablet.shot("saved-offline")

        https_county.start()
        context.set_offline(False)
        assert "同步完成" in tablet.sync()
        assert https_county.county is not None
        assert county_store(https_county.county).get(record_id)["author"] == "user:xiaowang"
        assert not tablet.errors
    finally:
        launched.close()
