"""The tablet app in Debian's chromium against a live county: forms, messages in both
languages, offline saves and reloads, sync, refusals corrected, shared tablets.

Screenshots of every screen go to test-artifacts/<test>/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.county import VILLAGE
from support.tablet import FieldCounty, Tablet, png

pytestmark = pytest.mark.browser

GRID = VILLAGE + "001"
PHOTO = png(2400, 1800)  # larger than the app keeps: it is scaled to 1280 px


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh tablet: its own storage, a phone-sized screen, Chinese."""
    made = browser.new_context(viewport={"width": 360, "height": 640}, locale="zh-CN")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def tablet(context: Any, tablet_county: FieldCounty, artifacts: Path) -> Tablet:
    return Tablet(context.new_page(), tablet_county.url, artifacts)


def fill_patrol(tablet: Tablet, zone: str = "白岩村第三网格") -> None:
    tablet.choose("place", GRID)
    tablet.fill("zone", zone)
    tablet.fill("started_at", "2026-12-01T08:00")
    tablet.fill("ended_at", "2026-12-01T10:30")


def test_each_form_checks_in_chinese_then_english_and_saves(
    tablet: Tablet, tablet_county: FieldCounty
) -> None:
    tablet.open()
    tablet.shot("sign-in")
    tablet.sign_in("xiaowang")
    tablet.shot("home-after-first-sync")

    # Patrol: a required end missing, then an end before the start.
    tablet.new("patrol")
    tablet.shot("patrol-form")
    tablet.save()
    assert tablet.message("ended_at") == "缺少必填字段。"
    tablet.shot("patrol-missing-end-zh")
    tablet.set_language("en")
    tablet.save()
    assert tablet.message("ended_at") == "Missing data for required field."
    tablet.shot("patrol-missing-end-en")
    tablet.set_language("zh")
    fill_patrol(tablet)
    tablet.fill("ended_at", "2026-12-01T07:00")
    tablet.save()
    assert tablet.message("ended_at") == "结束时间不能早于开始时间。"
    tablet.fill("ended_at", "2026-12-01T10:30")
    tablet.page.click("text=＋ 发现的情况")
    tablet.choose("incidents.0.kind", "fire")
    tablet.fill("incidents.0.description", "山林边有烟")
    tablet.saved()

    # Water source: coordinates out of range, a piped source without its pipe length.
    tablet.new("water_source")
    tablet.choose("place", GRID)
    tablet.fill("location.lat", "91")
    tablet.fill("location.lon", "109.4")
    tablet.fill("location.accuracy_m", "8")
    tablet.choose("kind", "spring")
    tablet.choose("status", "piped")
    tablet.save()
    assert tablet.message("location.lat") == "不能大于 90。"
    tablet.shot("water-source-errors-zh")
    tablet.set_language("en")
    assert tablet.message("location.lat") == "Must be less than or equal to 90."
    tablet.shot("water-source-errors-en")
    tablet.set_language("zh")
    tablet.fill("location.lat", "29.51")
    tablet.save()  # cross-field rules speak once every field passes, as on the server
    assert (
        tablet.message("pipe_length_m")
        == "状态为已通管（piped）或使用中（in_use）时必须填写管道长度。"
    )
    tablet.fill("pipe_length_m", "350")
    tablet.page.set_input_files(
        "#photo-input", files=[{"name": "source.png", "mimeType": "image/png", "buffer": PHOTO}]
    )
    tablet.page.wait_for_selector("#photos img")
    tablet.saved()

    # Home visit: the household from the local lookup, neither services nor needs.
    tablet.new("home_visit")
    tablet.choose("place", GRID)
    household = tablet_county.households[0]
    tablet.field("household").locator(f"input[value='{household['_id']}']").check()
    tablet.fill("duration_min", "45")
    tablet.save()
    assert tablet.message("services") == "至少记录一项服务，或报告至少一项需求。"
    tablet.shot("home-visit-errors")
    tablet.choose("services", "haircut")
    tablet.saved()
    tablet.shot("home-three-saved")

    states = tablet.records()
    assert sorted(states.values()) == ["saved", "saved", "saved"]
    tablet.sync()
    assert sorted(tablet.records().values()) == ["sent", "sent", "sent"]
    on_server = tablet_county.on_server("xiaowang")
    assert sorted(doc["type"] for doc in on_server) == ["home_visit", "patrol", "water_source"]
    water = next(doc for doc in on_server if doc["type"] == "water_source")
    assert len(water.get("_attachments", {})) == 1
    assert not tablet.errors
