"""The station page at the hub (server/station/): a lead signs in and sees today's and
this week's records by volunteer and type, what has not reached the county, refusals and
the county's review comments to pass on, each tablet's last sync and the county's; in
Chinese first and in English; nobody but a station lead sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from support.county import (
    PASSWORD,
    VILLAGE,
    county_store,
    invalid_records,
    village_records,
)
from support.hub import county_and_hub, hub_link


def recorded_now(docs: list[dict], hours_ago: float = 1.0) -> list[dict]:
    when = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(timespec="seconds")
    return [{**doc, "created_at": when, "updated_at": when} for doc in docs]


def signed_in(url: str, name: str) -> requests.Session:
    session = requests.Session()
    answer = session.post(f"{url}/station/sign-in", data={"name": name, "password": PASSWORD},
                          timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text  # the page, after the redirect
    return session


@pytest.fixture
def station(tmp_path: Path) -> Any:
    people = [("laoli", "station_lead", VILLAGE), ("xiaowang", "volunteer", VILLAGE),
              ("xiaoli", "volunteer", VILLAGE)]  # fmt: skip
    with county_and_hub(tmp_path, people) as (county, hub):
        link = hub_link(county, hub)
        assert link.run_once().ok  # set up in coverage: accounts and reference data
        yield county, hub, link


def test_the_lead_sees_the_stations_day_and_what_waits(station: Any) -> None:
    county, hub, link = station
    wang = recorded_now(village_records(VILLAGE, 2, author="xiaowang"))
    li = recorded_now(village_records(VILLAGE, 1, seed=9, author="xiaoli"), hours_ago=24 * 9)
    bad = recorded_now(invalid_records(VILLAGE, author="xiaowang"))
    for who, docs in (("xiaowang", wang + bad), ("xiaoli", li)):
        pushed = hub.session(who).post(f"{hub.url}/db/_bulk_docs", json={"docs": docs},
                                       timeout=30)  # fmt: skip
        assert pushed.status_code == 201
    lead = signed_in(hub.url, "laoli")
    summary = lead.get(f"{hub.url}/station/summary.json", timeout=30).json()
    mine = summary["by_volunteer"]["user:xiaowang"]
    assert mine["today"] == {"patrol": 2, "home_visit": 2} == mine["week"]
    # 小李's were recorded nine days ago: counted in neither.
    assert summary["by_volunteer"]["user:xiaoli"] == {"today": {}, "week": {}}
    records = [d for d in wang + li if d["type"] != "household"]
    assert summary["unsent_count"] == len(records)
    assert {item["doc_id"] for item in summary["unsent"]} == {d["_id"] for d in records}
    refused = {item["doc_id"] for item in summary["to_pass_on"] if item["kind"] == "refused"}
    assert refused == {d["_id"] for d in bad}
    assert {t["device"] for t in summary["tablets"]} == {"tablet-xiaowang", "tablet-xiaoli"}

    assert link.run_once().ok  # the hub forwards; the county returns one visit
    visit = next(d for d in wang if d["type"] == "home_visit")
    on_county = county_store(county)
    current = on_county.get(visit["_id"])
    review = {"state": "returned", "by": "user:chen", "at": datetime.now(UTC).isoformat(),
              "comment": "请补充走访对象的联系电话。"}  # fmt: skip
    on_county.put({**current, "review": review})
    assert link.run_once().ok
    after = lead.get(f"{hub.url}/station/summary.json", timeout=30).json()
    assert after["unsent_count"] == 0
    returned = [item for item in after["to_pass_on"] if item["kind"] == "returned"]
    assert [(r["doc_id"], r["reasons"][0]["zh"]) for r in returned] == [
        (visit["_id"], "请补充走访对象的联系电话。")
    ]
    assert after["county"]["last_success"] >= summary["county"]["last_success"]
    assert after["county"]["last_error"] is None


def test_only_a_station_lead_opens_the_page(station: Any) -> None:
    _, hub, _ = station
    anonymous = requests.get(f"{hub.url}/station/", timeout=30)
    assert anonymous.status_code == 200 and 'action="/station/sign-in"' in anonymous.text
    assert requests.get(f"{hub.url}/station/summary.json", timeout=30).status_code == 401
    volunteer = requests.Session()
    form = {"name": "xiaowang", "password": PASSWORD}
    answer = volunteer.post(f"{hub.url}/station/sign-in", data=form, timeout=30)
    assert answer.status_code == 403 and "只有站长可以查看本页" in answer.text
    assert volunteer.get(f"{hub.url}/station/summary.json", timeout=30).status_code == 403
    form = {"name": "laoli", "password": "not the password"}
    wrong = requests.post(f"{hub.url}/station/sign-in", data=form, timeout=30)
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text


@pytest.mark.browser
def test_the_page_reads_in_chinese_then_english(
    station: Any, browser: Any, artifacts: Path
) -> None:
    _, hub, link = station
    docs = recorded_now(village_records(VILLAGE, 2, author="xiaowang"))
    bad = recorded_now(invalid_records(VILLAGE, author="xiaowang"))
    hub.session("xiaowang").post(f"{hub.url}/db/_bulk_docs", json={"docs": docs + bad},
                                 timeout=30)  # fmt: skip
    context = browser.new_context(viewport={"width": 1024, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/station/")
        page.fill("input[name=name]", "laoli")
        page.fill("input[name=password]", PASSWORD)
        page.click("#sign-in")
        page.wait_for_selector("#unsent")
        text = page.inner_text("main")
        assert "尚未送达县级" in text and "需要转告志愿者" in text and "平板最近同步" in text
        assert "Not yet" not in text
        assert page.inner_text("#unsent .count") == "4"
        page.screenshot(path=str(artifacts / "station-zh.png"), full_page=True)
        page.click("#language")
        page.wait_for_selector("text=Not yet at the county")
        english = page.inner_text("main")
        assert "To pass on to volunteers" in english and "尚未送达" not in english
        assert "Home visit" in english
        page.screenshot(path=str(artifacts / "station-en.png"), full_page=True)
        page.reload()  # the choice is kept
        assert "Tablets' last sync" in page.inner_text("main")
    finally:
        context.close()
