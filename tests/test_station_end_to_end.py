"""A station's evening, end to end, in Debian's chromium: the tablet app served by the
station's hub over HTTPS (the county CA's chain), the county out of reach; a volunteer
signs in at the hub and records offline; syncs with the hub; the county is back; the
hub forwards; the county refuses one record; its notice travels county -> hub ->
tablet; the volunteer corrects it; it reaches the county and is accepted; every valid
record is on the county exactly once with its author.

Why the county refuses what the hub accepted: both run the same schemas and policy, so
the two must know different things. In the morning, in coverage, the hub's link ran
with the county (the station's places, roster, households and accounts came down).
Then county staff corrected a household's village: the 王 family lives in 舍米湖村, so
their household moved out of 白岩村 (and out of the station's scope) at the county. The
hub, out of coverage, never heard, so its tablets still list the family at their old
address. That evening the volunteer visits that house, finds the 田 family living there
and records the visit under the household his tablet shows for it. The hub accepts it
(the household is the station's as far as it knows); the county's write policy refuses
it (server/policy.py, rule 6: a reference to a household outside the pusher's scope,
`push_reference_out_of_scope`). The volunteer reads the county's reason on the tablet,
registers the 田 family as a new household from the visit's form and saves the visit
again: the county accepts it and settles its notice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.county import (
    OTHER_VILLAGE,
    VILLAGE,
    County,
    county_store,
    logged,
    quarantined,
)
from support.hub import hub_link
from support.tablet import FieldCounty, Tablet, free_port
from support.tls import HUB_NAME, https_server, launch_tablet, tablet_home

from schemas.rejection_notice import notice_id
from server.demo_county import DemoCounty, recorded_by
from server.tls.authority import create_authority, issue_hub_certificate

pytestmark = pytest.mark.browser

GRID = VILLAGE + "001"
MOVED_TO = OTHER_VILLAGE + "001"  # 舍米湖村's first grid


def by_author(county: County, username: str, doc_type: str) -> list[dict]:
    return [
        row["doc"]
        for row in county_store(county).all_docs(include_docs=True)
        if row["doc"].get("author") == f"user:{username}" and row["doc"]["type"] == doc_type
    ]


def live(county: County, doc_id: str) -> dict | None:
    (row,) = county_store(county).all_docs(keys=[doc_id], include_docs=True)
    return row.get("doc")


def test_a_refusal_at_the_county_reaches_the_tablet_through_the_hub_and_is_corrected(
    browser: Any, tmp_path: Path, artifacts: Path
) -> None:
    create_authority(tmp_path / "ca", "来凤县")
    issued = issue_hub_certificate(tmp_path / "ca", tmp_path / "hub-tls", (HUB_NAME,),
                                   ("127.0.0.1",))  # fmt: skip
    county_server = FieldCounty(tmp_path / "county", free_port())
    county_server.start()
    try:
        with https_server(tmp_path / "hub", issued.cert, issued.key) as hub:
            run_the_evening(browser, county_server, hub, tmp_path, artifacts)
    finally:
        county_server.stop()


def run_the_evening(
    browser: Any, county_server: FieldCounty, hub: County, tmp_path: Path, artifacts: Path
) -> None:
    # -- The morning, in coverage: the county holds the station; the lead sets up the hub.
    county = county_server.county
    assert county is not None
    county.add_places(VILLAGE, OTHER_VILLAGE)
    county.add_user("laoli", "station_lead", VILLAGE)
    county.add_user("xiaowang", "volunteer", VILLAGE)
    county.add_user("chenke", "county_staff", VILLAGE[:6])
    demo = DemoCounty(seed=3)
    village = next(v for v in demo.villages if v.code == VILLAGE)
    wang, peng = recorded_by([demo.household(village) for _ in range(2)], "laoli")
    wang.update(head_of_household="王德明", address="翔凤镇白岩村三组 12 号", place=GRID)
    peng.update(head_of_household="彭秀英", address="翔凤镇白岩村三组 15 号", place=GRID)
    assert all(row.get("ok") for row in county_server.store.bulk_docs([wang, peng]))

    link = hub_link(county, hub)
    first = link.run_once()  # the station's places, roster, households and accounts
    assert first.ok, first.error
    assert first.accounts == 2  # laoli and xiaowang; county staff never reach a hub
    # One round only: the hub never offers back what it pulled (server/hub/station_work.py),
    # so the 王 household, which leaves the station's scope before tonight, is not pushed
    # tonight and refused as a document outside it.
    assert county_store(hub).get(wang["_id"])["place"] == GRID

    # County staff correct the 王 family's village: their household leaves the station.
    moved = {**county_server.store.get(wang["_id"]), "place": MOVED_TO,
             "station": f"station:{OTHER_VILLAGE}", "team": f"team:{OTHER_VILLAGE}",
             "address": "百福司镇舍米湖村一组 3 号"}  # fmt: skip
    answer = county.session("chenke").put(f"{county.url}/db/{wang['_id']}", json=moved, timeout=30)
    assert answer.status_code == 201, answer.text

    # -- The evening: the station is out of coverage.
    county_server.stop()
    out_of_reach = link.run_once()
    assert not out_of_reach.ok and "连不上县级服务器" in str(out_of_reach.error)

    home = tablet_home(tmp_path / "tablet", tmp_path / "ca" / "county-ca.crt")
    launched = launch_tablet(browser, home)
    try:
        context = launched.new_context(viewport={"width": 360, "height": 640}, locale="zh-CN")
        tablet = Tablet(context.new_page(), hub.url, artifacts)
        tablet.open()
        assert tablet.page.evaluate("location.protocol") == "https:"
        tablet.shot("sign-in-at-the-hub")
        tablet.sign_in("xiaowang")  # an account the hub received from the county
        tablet.page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        tablet.shot("signed-in-at-the-hub")

        # Offline (the hub's wifi out of reach on the round): the app from its service worker.
        context.set_offline(True)
        tablet.page.reload()
        tablet.page.wait_for_selector("#records", timeout=30000)
        assert tablet.page.evaluate("!!navigator.serviceWorker.controller")
        patrol = record(tablet, "patrol", fill_patrol)
        visit_peng = record(tablet, "home_visit", lambda t: fill_visit(t, peng["_id"], "haircut"))
        tablet.new("home_visit")
        fill_visit(tablet, wang["_id"], "cleaning")  # the household the tablet shows there
        assert "王德明" in tablet.field("household").inner_text()
        tablet.shot("visit-under-the-household-the-tablet-knows")
        tablet.saved()
        (visit_wang,) = set(tablet.records()) - {patrol, visit_peng}
        assert set(tablet.records().values()) == {"saved"}
        tablet.shot("three-records-saved-offline")

        # -- Back at the hub's wifi: the tablet syncs with the hub, which accepts all three.
        context.set_offline(False)
        status = tablet.sync()
        assert "同步完成" in status, status
        assert tablet.records() == {patrol: "sent", visit_peng: "sent", visit_wang: "sent"}
        tablet.shot("synced-with-the-hub")
        for doc_id in (patrol, visit_peng, visit_wang):
            assert county_store(hub).get(doc_id)["author"] == "user:xiaowang"
        assert quarantined(hub) == []

        # -- The county is back: the hub forwards; the county refuses the visit to the 王s.
        county = county_server.start()
        forwarded = link.run_once()
        assert forwarded.ok, forwarded.error
        assert forwarded.sent == 2
        assert [failure["id"] for failure in forwarded.refused] == [visit_wang]
        assert quarantined(county) == [(visit_wang, "laoli")]
        at_county = county_server.store.get(notice_id(visit_wang))
        (reason,) = at_county["reasons"]
        assert wang["_id"] in reason and "不在你的负责范围内" in reason, reason
        at_hub = county_store(hub).get(notice_id(visit_wang))  # came down in the same round
        assert at_hub["_rev"] == at_county["_rev"] and at_hub["reasons"] == [reason]

        # The notice reaches the tablet at its next sync with the hub.
        tablet.sync()
        assert tablet.records()[visit_wang] == "refused"
        assert "1 条记录被退回" in tablet.page.inner_text("body")
        tablet.shot("home-with-the-countys-refusal")
        tablet.page.click(f"#records li[data-id='{visit_wang}']")
        tablet.page.wait_for_selector("#server-reasons")
        assert reason in tablet.page.inner_text("#server-reasons")
        tablet.shot("the-countys-reason-on-the-tablet")

        # -- The volunteer corrects it: the 田 family, a new household, named on the visit.
        tablet.page.click("#edit")
        tablet.page.wait_for_selector("#save")
        assert tablet.page.is_visible("#server-reasons")
        tablet.shot("correcting-the-visit")
        tablet.field("household").locator("button").click()
        tablet.page.wait_for_selector("[data-path=household_no]")
        tablet.fill("household_no", "001-088")
        tablet.fill("head_of_household", "田志刚")
        tablet.fill("address", "翔凤镇白岩村三组 12 号")
        tablet.fill("size", "4")
        tablet.choose("place", GRID)
        tablet.shot("registering-the-family-living-there")
        tablet.save()
        tablet.page.wait_for_selector("[data-path=duration_min]")
        chosen = tablet.field("household").locator("input:checked")
        assert chosen.count() == 1 and "田志刚" in tablet.field("household").inner_text()
        tian = chosen.get_attribute("value")
        tablet.shot("visit-names-the-new-household")
        tablet.saved()
        assert tablet.records()[visit_wang] == "saved"
        status = tablet.sync()
        assert "同步完成" in status, status
        assert tablet.records()[visit_wang] == "sent"
        assert live(hub, notice_id(visit_wang)) is None  # the hub settled it as it accepted
        tablet.shot("corrected-and-sent-to-the-hub")

        corrected = link.run_once()
        assert corrected.ok and corrected.refused == [], corrected
        assert corrected.sent == 2  # the new household and the visit's corrected revision
        assert live(county, notice_id(visit_wang)) is None  # the county settled its own
        tablet.sync()
        assert tablet.local_doc("xiaowang", notice_id(visit_wang)) is None
        assert set(tablet.records().values()) == {"sent"}
        assert "被退回" not in tablet.page.inner_text("body")
        tablet.shot("all-sent-nothing-refused")
        assert not tablet.errors

        # -- Every valid record on the county exactly once, with its author.
        again = link.run_once()
        assert again.ok and again.sent == 0 and again.refused == []
        assert [d["_id"] for d in by_author(county, "xiaowang", "patrol")] == [patrol]
        visits = {d["_id"]: d for d in by_author(county, "xiaowang", "home_visit")}
        assert sorted(visits) == sorted([visit_peng, visit_wang])
        assert visits[visit_peng]["household"] == peng["_id"]
        assert visits[visit_wang]["household"] == tian
        assert [d["_id"] for d in by_author(county, "xiaowang", "household")] == [tian]
        for doc_id in (patrol, visit_peng, visit_wang, tian):
            kept = county_server.store.get(doc_id, conflicts=True)
            assert kept["author"] == "user:xiaowang" and "_conflicts" not in kept
            accepted = [rev for rev, outcome in logged(county, doc_id) if outcome == "accepted"]
            assert accepted == [kept["_rev"]]  # written once, by the one revision it is
        assert [outcome for _, outcome in logged(county, visit_wang)] == [
            "quarantined",
            "accepted",
        ]
        assert quarantined(county) == [(visit_wang, "laoli")]  # nothing else refused, ever
        assert county_server.store.get(wang["_id"])["place"] == MOVED_TO  # untouched
    finally:
        launched.close()


def record(tablet: Tablet, doc_type: str, fill: Any) -> str:
    """A new record of `doc_type` filled by `fill` and saved; its id."""
    before = set(tablet.records())
    tablet.new(doc_type)
    fill(tablet)
    tablet.shot(f"{doc_type}-filled")
    tablet.saved()
    (made,) = set(tablet.records()) - before
    return made


def fill_patrol(tablet: Tablet) -> None:
    tablet.choose("place", GRID)
    tablet.fill("zone", "白岩村三组一带")
    tablet.fill("started_at", "2026-12-01T18:00")
    tablet.fill("ended_at", "2026-12-01T19:30")


def fill_visit(tablet: Tablet, household: str, service: str) -> None:
    tablet.choose("place", GRID)
    tablet.field("household").locator(f"input[value='{household}']").check()
    tablet.fill("duration_min", "30")
    tablet.choose("services", service)
