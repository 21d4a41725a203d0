"""The tablet app in Debian's chromium against a live county: forms, messages in both
languages, offline saves and reloads, sync, refusals corrected, shared tablets.

Screenshots of every screen go to test-artifacts/<test>/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.county import PASSWORD, VILLAGE
from support.tablet import OTHER_GRID, FieldCounty, Tablet, png

from field_client.tablet_app import serve
from schemas import generate_doc_id, validate_document
from schemas.testing import example

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
    assert len(states) == 3 and set(states.values()) <= {"saved", "sent"}  # sync starts by itself
    tablet.sync()
    assert sorted(tablet.records().values()) == ["sent", "sent", "sent"]
    on_server = tablet_county.on_server("xiaowang")
    assert sorted(doc["type"] for doc in on_server) == ["home_visit", "patrol", "water_source"]
    water = next(doc for doc in on_server if doc["type"] == "water_source")
    assert len(water.get("_attachments", {})) == 1
    assert not tablet.errors


def test_saved_offline_reloads_offline_and_arrives_once(
    context: Any, tablet: Tablet, tablet_county: FieldCounty
) -> None:
    tablet.open()
    tablet.sign_in("xiaowang")
    tablet.page.evaluate("navigator.serviceWorker.ready.then(() => true)")

    tablet_county.stop()
    context.set_offline(True)
    saved = []
    for zone in ("东坡", "西沟"):
        tablet.new("patrol")
        fill_patrol(tablet, zone)
        tablet.saved()
        saved += [i for i, state in tablet.records().items() if i not in saved]
    assert len(saved) == 2
    tablet.sync()
    assert "记录都安全地保存在本平板上" in tablet.page.inner_text("#sync-status")
    tablet.shot("offline-saved")

    tablet.page.reload()
    tablet.page.wait_for_selector("body[data-ready=true]", timeout=30000)
    assert tablet.records() == {doc_id: "saved" for doc_id in saved}
    tablet.shot("offline-reloaded")

    tablet_county.start()
    context.set_offline(False)
    status = tablet.sync()
    assert "同步完成" in status, status
    assert tablet.records() == {doc_id: "sent" for doc_id in saved}
    tablet.sync()  # a second sync sends nothing again
    on_server = tablet_county.on_server("xiaowang", "patrol")
    assert sorted(doc["_id"] for doc in on_server) == sorted(saved)
    for doc in on_server:
        assert doc["_rev"].startswith("1-")
        assert tablet_county.store.get(doc["_id"], conflicts=True).get("_conflicts") is None
    tablet.shot("back-online-sent")


def test_a_refused_record_shows_the_reasons_and_goes_once_corrected(
    tablet: Tablet, tablet_county: FieldCounty
) -> None:
    tablet.open()
    tablet.sign_in("xiaowang")
    # A record the tablet's checks pass but the county refuses: made when this tablet
    # still had another village (a place outside the volunteer's scope today).
    doc = {
        **example("patrol"),
        "_id": generate_doc_id("patrol"),
        "place": OTHER_GRID,
        "station": f"station:{VILLAGE}",
        "team": f"team:{VILLAGE}",
        "author": "user:xiaowang",
        "participants": ["user:xiaowang"],
        "device": "tablet-test",
    }
    validate_document(doc)
    tablet.page.evaluate("doc => new PouchDB('fieldsync-xiaowang').put(doc)", doc)
    tablet.sync()
    assert tablet.records()[doc["_id"]] == "refused"
    tablet.shot("home-with-refusal")

    tablet.page.click(f"#records li[data-id='{doc['_id']}']")
    tablet.page.wait_for_selector("#server-reasons")
    reasons = tablet.page.inner_text("#server-reasons")
    assert "不在你的负责范围内" in reasons or "scope" in reasons, reasons
    tablet.shot("refused-record-reasons")

    tablet.page.click("#edit")
    tablet.page.wait_for_selector("#save")
    assert tablet.page.is_visible("#server-reasons")
    tablet.choose("place", GRID)
    tablet.saved()
    assert tablet.records()[doc["_id"]] == "saved"
    tablet.sync()
    assert tablet.records()[doc["_id"]] == "sent"
    (on_server,) = [d for d in tablet_county.on_server("xiaowang") if d["_id"] == doc["_id"]]
    assert on_server["place"] == GRID
    notices = [
        d
        for d in tablet_county.store.all_docs(include_docs=True)
        if d["id"].startswith("rejection_notice:")
    ]
    assert not [n for n in notices if n["doc"].get("about") == doc["_id"]]
    assert not tablet.page.evaluate(
        """async (id) => (await new PouchDB('fieldsync-xiaowang').allDocs({include_docs: true}))
            .rows.filter((row) => row.doc.about === id).length""",
        doc["_id"],
    )
    tablet.shot("corrected-and-sent")


def test_two_volunteers_on_one_tablet_do_not_see_each_others_work(
    context: Any, tablet: Tablet, tablet_county: FieldCounty
) -> None:
    tablet.open()
    tablet.sign_in("xiaowang")
    tablet.page.click("#open-settings")
    tablet.page.fill("#new-pin", "12ab")
    tablet.page.click("#save-pin")
    assert tablet.page.inner_text(".message") == "PIN 码须为 4 到 8 位数字。"
    tablet.page.fill("#new-pin", "2468")
    tablet.shot("settings")
    tablet.page.click("#save-pin")
    tablet.page.wait_for_selector("#records")

    # Her work stays on the tablet: a saved patrol (unsent) and a draft.
    context.set_offline(True)
    tablet.new("patrol")
    fill_patrol(tablet, "小王的巡逻")
    tablet.saved()
    (record_id,) = tablet.records()
    tablet.new("home_visit")
    tablet.fill("duration_min", "30")
    tablet.page.click("#back")
    tablet.page.wait_for_selector("#records")
    assert sorted(tablet.records().values()) == ["draft", "saved"]
    tablet.page.click("#open-settings")
    tablet.page.click("#sign-out")
    tablet.page.wait_for_selector("#other-account")
    tablet.shot("unlock")

    context.set_offline(False)
    tablet.sign_in("xiaoli")
    assert tablet.records() == {}
    assert (
        tablet.page.evaluate(
            "async () => (await new PouchDB('fieldsync-xiaoli').allDocs()).rows.map((r) => r.id)"
        ).count(record_id)
        == 0
    )
    tablet.page.click("#open-settings")
    tablet.page.click("#sign-out")

    # Her password does not open his account; his PIN does, offline.
    context.set_offline(True)
    tablet.unlock("xiaowang", PASSWORD + "x")
    assert tablet.page.inner_text("#unlock-error") == "PIN 码或密码不正确。"
    tablet.unlock("xiaowang", "2468")
    tablet.page.wait_for_selector("#records")
    assert sorted(tablet.records().values()) == ["draft", "saved"]
    tablet.shot("unlocked-with-pin")


def test_bad_input_gets_a_clear_message_and_what_was_typed_stays(
    context: Any, tablet: Tablet, tablet_county: FieldCounty
) -> None:
    tablet.open()
    tablet.sign_in("xiaowang")

    # A household head named in mixed scripts with an emoji is kept exactly as typed.
    tablet.new("home_visit")
    tablet.field("household").locator("button").click()
    tablet.page.wait_for_selector("[data-path=household_no]")
    name = "王小明 Wáng Xiǎomíng 🌾"
    tablet.fill("head_of_household", name)
    tablet.fill("household_no", "BY-0042")
    tablet.fill("size", "三")  # not a number: named, and the text stays
    tablet.save()
    assert tablet.message("size") == "必须是整数。"
    assert tablet.field("size").locator("input").input_value() == "三"
    assert tablet.message("address") == "缺少必填字段。"
    tablet.shot("household-errors-kept")
    tablet.page.reload()
    tablet.page.wait_for_selector("[data-path=head_of_household]")
    assert tablet.field("head_of_household").locator("input").input_value() == name
    assert tablet.field("size").locator("input").input_value() == "三"
    tablet.fill("size", "3")
    tablet.fill("address", "白岩村三组 12 号")
    tablet.choose("place", GRID)
    tablet.save()
    # Saving the household returns to the visit with it chosen.
    tablet.page.wait_for_selector("[data-path=duration_min]")
    chosen = tablet.field("household").locator("input:checked")
    assert "王小明" in tablet.field("household").inner_text()
    assert chosen.count() == 1
    tablet.shot("visit-with-new-household")

    # A visit in the future is refused at entry, in both languages.
    tablet.fill("visited_at", "2099-05-01T09:00")
    tablet.fill("duration_min", "20")
    tablet.choose("services", "cleaning")
    tablet.choose("place", GRID)
    tablet.save()
    assert tablet.message("visited_at") == "不能晚于保存记录的时间（不能填写将来的时间）。"
    tablet.set_language("en")
    assert tablet.message("visited_at").startswith("Must not be later than the moment")
    tablet.shot("visit-in-the-future-en")
    tablet.set_language("zh")
    tablet.page.click("[data-path=visited_at] button")  # "now"
    tablet.saved()
    households = tablet.page.evaluate(
        """async () => (await new PouchDB('fieldsync-xiaowang').allDocs({include_docs: true}))
            .rows.map((row) => row.doc).filter((doc) => doc.type === 'household')"""
    )
    (household,) = [doc for doc in households if doc.get("household_no") == "BY-0042"]
    assert household["head_of_household"] == name

    # Photos: a file that is not an image, and one too large to process.
    tablet.new("water_source")
    tablet.shot("water-source-form")
    tablet.page.set_input_files(
        "#photo-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    assert tablet.page.inner_text("#photo-message") == "这不是图片文件，请选择照片。"
    huge = b"\0" * (26 * 1024 * 1024)
    tablet.page.set_input_files(
        "#photo-input", files=[{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": huge}]
    )
    assert tablet.page.inner_text("#photo-message") == "照片太大（超过 25 MB），无法处理。"
    tablet.shot("photo-refused")

    # Location from the browser, with its accuracy shown.
    context.grant_permissions(["geolocation"])
    context.set_geolocation({"latitude": 29.5101, "longitude": 109.4102, "accuracy": 14})
    tablet.field("location").locator("button").first.click()
    tablet.page.wait_for_function(
        "() => document.querySelector('[data-path=\"location.lat\"] input').value !== ''"
    )
    assert tablet.field("location.lat").locator("input").input_value() == "29.5101"
    assert "精度约 14 米" in tablet.field("location").inner_text()
    tablet.shot("water-source-located")
    assert not tablet.errors


def test_a_new_version_is_offered_never_forced_mid_entry(
    tablet: Tablet, monkeypatch: pytest.MonkeyPatch
) -> None:
    tablet.open()
    tablet.sign_in("xiaowang")
    tablet.page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    tablet.page.reload()  # now the service worker controls the page
    tablet.page.wait_for_selector("#records")
    assert tablet.page.evaluate("!!navigator.serviceWorker.controller")

    tablet.new("patrol")
    tablet.fill("zone", "更新前输入的内容")

    # The county deploys a new app: its version (a digest of the shell) is new.
    version, files = serve.app_version()
    monkeypatch.setattr(serve, "app_version", lambda: (f"next-{version}", files))
    tablet.page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
    tablet.page.wait_for_selector("#update-now", timeout=30000)
    # Offered, not forced: the form and what was typed are still there.
    assert tablet.field("zone").locator("input").input_value() == "更新前输入的内容"
    tablet.shot("update-offered")
    with tablet.page.expect_navigation():
        tablet.page.click("#update-now")
    tablet.page.wait_for_selector("[data-path=zone]")
    assert tablet.field("zone").locator("input").input_value() == "更新前输入的内容"
    version = tablet.page.evaluate(
        "caches.keys().then((names) => names.filter((n) => n.startsWith('fieldsync-shell-')))"
    )
    assert len(version) == 1 and version[0].startswith("fieldsync-shell-next-")


def test_an_expired_session_asks_for_the_password_once_and_the_sync_goes_on(
    context: Any, tablet: Tablet, tablet_county: FieldCounty
) -> None:
    tablet.open()
    tablet.sign_in("xiaowang")
    tablet.new("patrol")
    fill_patrol(tablet)
    tablet.saved()
    context.clear_cookies()  # weeks offline: the server's session has ended
    status = tablet.sync()
    assert "登录已过期" in status and "记录都安全地保存在本平板上" in status, status
    tablet.page.wait_for_selector("#sign-in-again")
    tablet.shot("sign-in-again")
    tablet.page.fill("#resign-password", PASSWORD)
    tablet.page.click("#sign-in-again button")
    tablet.page.wait_for_function("() => document.querySelector('#sign-in-again').hidden")
    tablet.wait_sync_idle()
    tablet.page.wait_for_function(
        "() => [...document.querySelectorAll('#records li[data-state]')]"
        ".every((li) => li.dataset.state === 'sent')"
    )
    assert len(tablet_county.on_server("xiaowang", "patrol")) == 1


def test_every_string_of_the_app_is_in_both_languages(tablet: Tablet) -> None:
    tablet.open()
    missing = tablet.page.evaluate(
        """async () => {
            const { ALL_STRINGS } = await import('/app/js/i18n.js');
            return Object.entries(ALL_STRINGS)
                // "language" names the other language (the switch): English, 中文.
                .filter(([key, pair]) => pair.length !== 2 || !pair[0].trim() || !pair[1].trim()
                    || (key !== 'language' && !/[\\u4e00-\\u9fff]/u.test(pair[0])))
                .map(([key]) => key);
        }"""
    )
    assert missing == []


def test_a_reviewers_verdict_reaches_the_tablet(tablet: Tablet, tablet_county: FieldCounty) -> None:
    tablet.open()
    tablet.sign_in("xiaowang")
    for zone in ("退回的巡逻", "通过的巡逻"):
        tablet.new("patrol")
        fill_patrol(tablet, zone)
        tablet.saved()
    tablet.sync()
    by_zone = {doc["zone"]: doc for doc in tablet_county.on_server("xiaowang", "patrol")}
    # County staff decide on the server; the next pull brings the verdicts.
    verdicts = {
        "退回的巡逻": {"state": "returned", "comment": "请补充巡逻轨迹。"},
        "通过的巡逻": {"state": "approved"},
    }
    for zone, review in verdicts.items():
        doc = tablet_county.store.get(by_zone[zone]["_id"])
        doc["review"] = {**review, "by": "user:chenke", "at": "2026-12-02T10:00:00+08:00"}
        tablet_county.store.put(doc)
    tablet.sync()
    states = tablet.records()
    assert states[by_zone["退回的巡逻"]["_id"]] == "returned"
    assert states[by_zone["通过的巡逻"]["_id"]] == "approved"
    tablet.shot("reviewed")
    tablet.page.click(f"#records li[data-id='{by_zone['退回的巡逻']['_id']}']")
    assert "请补充巡逻轨迹。" in tablet.page.inner_text("#review-comment")
    assert tablet.page.is_visible("#edit")
    tablet.shot("returned-record")
    tablet.page.click("#back")
    tablet.page.click(f"#records li[data-id='{by_zone['通过的巡逻']['_id']}']")
    tablet.page.wait_for_selector("#record-state")
    assert not tablet.page.locator("#edit").count()  # approved: no longer the field's to change
