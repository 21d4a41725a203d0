"""Power cuts: the tablet app's browser killed during saves and during a sync loses no
saved record and duplicates none.

A context close is not a power cut: each tablet here is Debian's chromium as a real OS
process on a persistent profile (support/killable_browser.py), driven over CDP; the cut
is a SIGKILL of its whole process group, and the next process on the same profile finds
what IndexedDB really wrote. (A SIGKILL keeps the OS page cache: this checks that the
app's writes are atomic and acknowledged in order, not Chromium's fsyncs.)

Chromium writes localStorage to disk about five seconds after a change (IndexedDB at
once), so a cut right after the sign-in forgets the account the unlock screen needs
(`test_unlock_survives_a_power_cut_right_after_sign_in`, expected to fail); the other
tests cut the power only once the sign-in is older than that.

Screenshots after each restart go to test-artifacts/<test>/.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.county import PASSWORD, VILLAGE
from support.killable_browser import KillableBrowser, killable_chromium
from support.tablet import FieldCounty, Tablet

from schemas import DocumentInvalid, generate_doc_id, validate_document
from schemas.testing import example

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ME = "xiaowang"
GRID = VILLAGE + "001"
SAVED_NOTICE = "已保存在本平板"
SYNC_DONE = "同步完成"
SIGN_IN_EXPIRED = "登录已过期"
ALL_SENT = "所有记录都已发送"
LOCAL_STORAGE_SECONDS = 6.0  # Chromium commits localStorage ~5 s after a change
ENVELOPE = {"_id", "type", "schema_version", "place", "station", "team", "author", "device"}
ENVELOPE |= {"created_at", "updated_at"}

ALL_LOCAL = """async ([name]) => {
    const docs = async (db) =>
        (await db.allDocs({include_docs: true, conflicts: true})).rows.map((row) => row.doc);
    return {
        records: await docs(new PouchDB(`fieldsync-${name}`)),
        drafts: await docs(new PouchDB(`fieldsync-${name}-drafts`)),
    };
}"""

# New patrols saved through the form as fast as the app allows: a click on the home
# screen's "＋ 巡逻", four fields set as typing sets them (input and change events), a
# click on #save, then the app's own signs that the save resolved; each acknowledged
# save is told on the console ("saved", id, zone) for the test to log.
SAVE_LOOP = """async ([count, prefix, grid, notice]) => {
    const until = async (test) => {
        const end = Date.now() + 20000;
        while (!test()) {
            if (Date.now() > end) throw new Error("the app did not answer in 20 s");
            await new Promise((resolve) => setTimeout(resolve, 2));
        }
    };
    const type = (path, value) => {
        const box = document.querySelector(`[data-path="${path}"]`);
        const input = box.querySelector("select, input");
        input.value = value;
        input.dispatchEvent(new Event("input", {bubbles: true}));
        input.dispatchEvent(new Event("change", {bubbles: true}));
    };
    const newPatrol = () => document.querySelector("[data-new=patrol]:not([disabled])");
    for (let n = 0; n < count; n += 1) {
        await until(newPatrol);
        newPatrol().click();
        await until(() => document.querySelector("#save") && location.hash.startsWith("#/form/"));
        const id = decodeURIComponent(location.hash).replace("#/form/draft:", "");
        const zone = `${prefix}${n}`;
        type("place", grid);
        type("zone", zone);
        type("started_at", "2026-12-01T08:00");
        type("ended_at", "2026-12-01T10:30");
        document.querySelector("#save").click();
        await until(
            () =>
                document.querySelector(`#records li[data-id="${id}"][data-state="saved"]`) &&
                document.querySelector("#notice").textContent.includes(notice),
        );
        console.info("saved", id, zone);
    }
}"""

# A cut exactly after a record's write: the form's next write, the draft's removal, is
# held (a test hook on the live store) and told on the console.
HOLD_DRAFT_REMOVAL = """async () => {
    const { app } = await import("/app/js/app.js");
    app.store.removeDraft = () => {
        console.info("record written, draft not yet removed");
        return new Promise(() => {});
    };
}"""

PUT_LOCAL = """async ([name, docs]) => {
    const rows = await new PouchDB(`fieldsync-${name}`).bulkDocs(docs);
    return rows.filter((row) => !row.ok).length;
}"""


class PowerCuts:
    """One tablet (a Chromium profile) that is started, cut off and started again."""

    def __init__(self, browser: Any, profile: Path, county: FieldCounty, artifacts: Path):
        self.browser_type = browser.browser_type
        self.profile = profile
        self.county = county
        self.artifacts = artifacts
        for old in artifacts.glob("*.png"):
            old.unlink()
        self.shots = 0
        self.errors: list[str] = []

    @contextmanager
    def running(self) -> Iterator[tuple[KillableBrowser, Tablet]]:
        with killable_chromium(self.browser_type, self.profile) as chromium:
            page = chromium.page
            page.set_default_timeout(20000)
            tablet = Tablet(page, self.county.url, self.artifacts)
            tablet.shots = self.shots
            try:
                yield chromium, tablet
            finally:
                self.shots = tablet.shots
                self.errors += tablet.errors

    def sign_in(self, tablet: Tablet) -> float:
        """Sign in online; the moment from which the account is on disk."""
        tablet.open()
        tablet.sign_in(ME)
        return time.monotonic() + LOCAL_STORAGE_SECONDS

    def unlock(self, tablet: Tablet, name: str) -> None:
        """After a restart: the unlock screen (sessionStorage died with the process),
        then the home screen drawn in full."""
        tablet.open()
        tablet.page.wait_for_selector(f"[data-account='{ME}']", timeout=5000)
        tablet.shot(f"unlock-after-{name}")
        tablet.redrawn(lambda: tablet.unlock(ME, PASSWORD))
        tablet.page.wait_for_selector("#records")
        tablet.shot(f"home-after-{name}")


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def kill_later(chromium: KillableBrowser, seconds: float) -> None:
    timer = threading.Timer(seconds, chromium.kill)
    timer.daemon = True
    timer.start()


def local(tablet: Tablet) -> dict[str, list[dict]]:
    return tablet.page.evaluate(ALL_LOCAL, [ME])


def listed(tablet: Tablet) -> list[tuple[str, str]]:
    """Every row of "my records" (drafts and records, every page): (id, state)."""
    page = tablet.page
    page.wait_for_selector("#records")
    for _ in range(20):
        if page.locator("#more").is_hidden():
            break
        before = page.locator("#records li[data-id]").count()
        page.click("#more")
        page.wait_for_function(
            f"() => document.querySelectorAll('#records li[data-id]').length > {before}"
        )
    return page.eval_on_selector_all(
        "#records li[data-id]", "rows => rows.map((row) => [row.dataset.id, row.dataset.state])"
    )


def fill_and_save(tablet: Tablet, zone: str) -> str:
    """The open patrol form filled as a volunteer does and saved; its record's id once
    the app acknowledged it (the notice, and the record listed as saved)."""
    address = tablet.page.evaluate("decodeURIComponent(location.hash)")
    record_id = address.removeprefix("#/form/draft:")
    tablet.choose("place", GRID)
    tablet.fill("zone", zone)
    tablet.fill("started_at", "2026-12-01T08:00")
    tablet.fill("ended_at", "2026-12-01T10:30")
    tablet.save()
    tablet.page.wait_for_selector(f"#records li[data-id='{record_id}'][data-state=saved]")
    assert SAVED_NOTICE in tablet.page.inner_text("#notice")
    return record_id


def check_patrol(doc: dict, zone: str | None = None) -> None:
    """A whole patrol as the form saves it, without conflicts."""
    validate_document(doc)
    assert not doc.get("_conflicts"), doc
    assert zone is None or doc["zone"] == zone, (doc, zone)
    assert doc["place"] == GRID
    assert doc["author"] == doc["participants"][0] == f"user:{ME}"
    assert doc["started_at"].startswith("2026-12-01T08:00:00")
    assert doc["ended_at"].startswith("2026-12-01T10:30:00")


def check_draft(draft: dict, records: dict[str, dict]) -> None:
    """A draft left by a cut is a whole draft of a record not saved: its envelope
    complete, nothing wrong with it but what the volunteer had not typed yet."""
    doc = draft["doc"]
    assert draft["_id"] == f"draft:{doc['_id']}" and draft["isNew"] is True, draft
    assert doc["_id"] not in records, f"{doc['_id']} is saved and still a draft"
    assert doc["type"] == "patrol" and doc["author"] == f"user:{ME}", doc
    assert all(doc.get(key) for key in ENVELOPE), doc
    try:
        validate_document(doc)
    except DocumentInvalid as invalid:
        assert not set(invalid.errors) & ENVELOPE, invalid.errors


def check_saves(tablet: Tablet, kept: dict[str, str]) -> dict[str, int]:
    """After a cut: every record acknowledged or found before it still there, once, as
    typed, without conflicts; at most one more (the save the cut came during, written
    but not acknowledged yet, now held to the same); whole drafts only; each listed once.
    `kept` (id -> zone) grows by that one."""
    found = local(tablet)
    records = {doc["_id"]: doc for doc in found["records"] if doc["_id"].startswith("patrol:")}
    for record_id, zone in kept.items():
        assert record_id in records, f"{record_id} was acknowledged and is lost"
        check_patrol(records[record_id], zone)
    unacknowledged = set(records) - set(kept)
    assert len(unacknowledged) <= 1, unacknowledged
    for record_id in unacknowledged:
        check_patrol(records[record_id])
        kept[record_id] = records[record_id]["zone"]
    for draft in found["drafts"]:
        check_draft(draft, records)
    rows = [row_id for row_id, _ in listed(tablet)]
    assert not [row_id for row_id, n in Counter(rows).items() if n > 1], rows
    assert set(rows) == set(records) | {draft["doc"]["_id"] for draft in found["drafts"]}
    return {"saved_unacknowledged": len(unacknowledged), "drafts_left": len(found["drafts"])}


def finish_drafts(tablet: Tablet, acknowledged: dict[str, str], label: str) -> None:
    """Each draft a cut left is opened from the list, completed and saved."""
    for n, draft in enumerate(local(tablet)["drafts"]):
        tablet.page.click(f"#records li[data-id='{draft['doc']['_id']}'][data-state=draft]")
        tablet.page.wait_for_selector("#save")
        zone = f"{label}后补完的草稿{n}"
        acknowledged[fill_and_save(tablet, zone)] = zone


def log_acknowledgements(tablet: Tablet, acknowledged: dict[str, str]) -> None:
    def heard(message: Any) -> None:
        words = message.text.split(" ")
        if message.type == "info" and len(words) == 3 and words[0] == "saved":
            acknowledged[words[1]] = words[2]

    tablet.page.on("console", heard)


def test_killed_during_saves_keeps_every_acknowledged_record_once(
    browser: Any, tmp_path: Path, tablet_county: FieldCounty, artifacts: Path
) -> None:
    """New patrols saved through the form as fast as the app allows (SAVE_LOOP, at most
    30 a run) and the power cut at a random moment, twice; then once exactly between a
    record's write and its draft's removal. After each restart: unlock, check, and
    complete through the form whatever drafts the cut left.

    Acknowledged means the app said so: after a click on #save the loop waits for the
    notice "已保存在本平板…" and the record in the home list as saved (both drawn only
    once `store.save` and the draft's removal resolved), then logs the id (from the
    form's address, #/form/draft:<record id>) and the zone typed (unique per save) on
    the console. A save cut before that may or may not be there; one acknowledged must
    be, once, as typed. A log line lost with the process holds one record fewer to it.
    """
    cuts = PowerCuts(browser, tmp_path / "profile", tablet_county, artifacts)
    rng = random.Random()
    acknowledged: dict[str, str] = {}  # record id -> the zone typed
    kill_points: list[dict] = []
    for run in range(4):
        with cuts.running() as (chromium, tablet):
            if run == 0:
                wait_until(cuts.sign_in(tablet))
            else:
                cuts.unlock(tablet, f"cut-{run}")
                kill_points[-1] |= check_saves(tablet, acknowledged)
                finish_drafts(tablet, acknowledged, f"第{run}次停电")
            if run == 3:
                break
            before = len(acknowledged)
            log_acknowledgements(tablet, acknowledged)
            if run < 2:
                delay = rng.uniform(0.05, 2.5)
                kill_later(chromium, delay)
                point = f"random, {delay:.2f} s into the saves"
                try:
                    tablet.page.evaluate(SAVE_LOOP, [30, f"停电{run}-", GRID, SAVED_NOTICE])
                    time.sleep(delay)  # all 30 saved before it: the cut comes after them
                except Exception:
                    if not chromium.killed:
                        raise
            else:
                point = "after a record's write, before its draft's removal"
                tablet.page.evaluate(HOLD_DRAFT_REMOVAL)
                tablet.new("patrol")
                with tablet.page.expect_console_message(
                    lambda message: message.text.startswith("record written")
                ):
                    tablet.choose("place", GRID)
                    tablet.fill("zone", "写入后停电")
                    tablet.fill("started_at", "2026-12-01T08:00")
                    tablet.fill("ended_at", "2026-12-01T10:30")
                    tablet.save()
                chromium.kill()
            assert chromium.process.wait(10) < 0
            kill_points.append({"cut": point, "acknowledged": len(acknowledged) - before})
        # The tablet is started again on the same profile at the top of the loop.
    print("\nkill points (saves):", *kill_points, sep="\n  ")
    assert kill_points[-1]["saved_unacknowledged"] == 1  # the held save was written
    assert not cuts.errors


def unsent_patrols(n: int) -> list[dict]:
    """Valid patrols as the volunteer's tablet holds them, each with a fresh id."""
    docs = []
    for _ in range(n):
        doc = example("patrol")
        doc["_id"] = generate_doc_id("patrol")
        doc["author"] = f"user:{ME}"
        doc["participants"] = [f"user:{ME}"]
        doc["station"] = f"station:{VILLAGE}"
        doc["team"] = f"team:{VILLAGE}"
        doc["place"] = GRID
        docs.append(validate_document(doc))
    return docs


def on_server(county: FieldCounty, ids: set[str]) -> int:
    return len(ids & {row["id"] for row in county.store.all_docs()})


def kill_during_push(chromium: KillableBrowser, county: FieldCounty, ids: set[str]) -> None:
    """SIGKILL as soon as the server holds one of `ids` (PUSH_BATCH is 10)."""
    deadline = time.monotonic() + 20
    while not on_server(county, ids):
        assert time.monotonic() < deadline, "nothing arrived in 20 s"
        time.sleep(0.002)
    chromium.kill()


def status_with(tablet: Tablet, *words: str) -> str:
    """The sync status line once it says one of `words`."""
    tablet.page.wait_for_function(
        "(words) => words.some((word) => "
        "document.querySelector('#sync-status').textContent.includes(word))",
        arg=list(words),
        timeout=30000,
    )
    return tablet.page.inner_text("#sync-status")


def resync(tablet: Tablet) -> bool:
    """A click on "同步 / Sync now" after a restart (this page has not synced yet, so
    any outcome on the status line is this sync's). If the server's session cookie died
    with the process (Chromium writes cookies to disk every 30 s or so), the home screen
    asks for the password and the sync goes on. Whether the session held."""
    tablet.page.click("#sync-now")
    status = status_with(tablet, SYNC_DONE, SIGN_IN_EXPIRED, "同步中断", "没有网络")
    kept = SIGN_IN_EXPIRED not in status
    if not kept:
        tablet.page.wait_for_selector("#sign-in-again")
        tablet.shot("sync-asks-for-the-password")
        tablet.page.fill("#resign-password", PASSWORD)
        tablet.page.click("#sign-in-again button")
        status = status_with(tablet, SYNC_DONE, "同步中断", "没有网络")
    assert SYNC_DONE in status, status
    tablet.page.wait_for_function(
        "(text) => document.querySelector('#counts').textContent.includes(text)", arg=ALL_SENT
    )
    return kept


def check_synced(tablet: Tablet, county: FieldCounty, made: dict[str, dict]) -> None:
    """Each record on the server once (one revision, no conflict), on the tablet still
    as it was put there, and listed as sent."""
    state = tablet.page.evaluate(
        "async ([name]) => new PouchDB(`fieldsync-${name}`).get('_local/fieldsync-sync')", [ME]
    )
    assert state["summary"]["refused"] == state["summary"]["conflicts"] == 0, state
    tablet.shot("home-synced")
    server = {doc["_id"]: doc for doc in county.on_server(ME)}
    assert set(server) == set(made), set(made) ^ set(server)
    for doc_id in made:
        doc = county.store.get(doc_id, conflicts=True)
        assert doc["_rev"].startswith("1-") and not doc.get("_conflicts"), doc
    records = {doc["_id"]: doc for doc in local(tablet)["records"] if doc["_id"] in made}
    assert set(records) == set(made)
    for doc_id, doc in records.items():
        assert not doc.get("_conflicts") and doc["_rev"] == server[doc_id]["_rev"], doc
        assert {k: v for k, v in doc.items() if k not in ("_rev", "_conflicts")} == made[doc_id]
    rows = listed(tablet)
    assert len(rows) == len({row_id for row_id, _ in rows}) == len(made)
    assert {state for _, state in rows} == {"sent"}, Counter(state for _, state in rows)


def test_killed_during_a_sync_sends_every_record_once(
    browser: Any, tmp_path: Path, tablet_county: FieldCounty, artifacts: Path
) -> None:
    """60 unsent patrols put straight into the volunteer's PouchDB, "同步 / Sync now",
    and the power cut while the push is under way: as soon as the server holds one of
    them (the push goes ten at a time). Restarted, unlocked, synced again and checked;
    another 60, and the power cut at a random moment of their sync; restarted, unlocked,
    synced and checked: the server holds each record once (one revision, no conflict),
    the tablet still holds them all as they were, and its list shows every one as sent.

    A cut less than 30 s after a sign-in also loses the server's session cookie (the
    sync then asks for the password: `resync` signs in again, as a volunteer would).
    """
    cuts = PowerCuts(browser, tmp_path / "profile", tablet_county, artifacts)
    rng = random.Random()
    made: dict[str, dict] = {}
    kill_points: list[dict] = []
    for run in range(3):
        with cuts.running() as (chromium, tablet):
            if run == 0:
                durable = cuts.sign_in(tablet)
            else:
                cuts.unlock(tablet, f"sync-cut-{run}")
                kill_points[-1]["session_kept"] = resync(tablet)
                durable = 0.0  # the account on disk since the first sign-in
                check_synced(tablet, tablet_county, made)
            if run == 2:
                break
            batch = unsent_patrols(60)
            assert tablet.page.evaluate(PUT_LOCAL, [ME, batch]) == 0
            made |= {doc["_id"]: doc for doc in batch}
            tablet.redrawn(lambda: tablet.page.evaluate("location.hash = '#/home/again'"))
            states = dict(listed(tablet))
            assert {states[doc["_id"]] for doc in batch} == {"saved"}
            ids = {doc["_id"] for doc in batch}
            wait_until(durable)
            tablet.page.click("#sync-now")
            if run == 0:
                kill_during_push(chromium, tablet_county, ids)
                point = "as the first of them arrived"
            else:
                delay = rng.uniform(0.05, 1.0)
                time.sleep(delay)
                chromium.kill()
                point = f"random, {delay:.2f} s into the sync"
            assert chromium.process.wait(10) < 0
            time.sleep(0.3)  # a request the server had whole before the cut is answered
            arrived = on_server(tablet_county, ids)
            kill_points.append({"cut": point, "on_server": arrived, "of": len(ids)})
    print("\nkill points (sync):", *kill_points, sep="\n  ")
    assert 0 < kill_points[0]["on_server"] < 60, kill_points  # the first cut came mid-push
    assert not cuts.errors


def test_unlock_survives_a_power_cut_right_after_sign_in(
    browser: Any, tmp_path: Path, tablet_county: FieldCounty, artifacts: Path
) -> None:
    """Signed in: the home screen is shown (after the first sync), and the power cut at
    once. The restarted tablet should offer the volunteer the unlock screen, offline."""
    cuts = PowerCuts(browser, tmp_path / "profile", tablet_county, artifacts)
    with cuts.running() as (chromium, tablet):
        tablet.open()
        tablet.page.fill("#username", ME)
        tablet.page.fill("#password", PASSWORD)
        clicked = time.monotonic()
        tablet.page.click("#sign-in")
        tablet.page.wait_for_selector("#records", timeout=30000)
        chromium.kill()
        if time.monotonic() - clicked > LOCAL_STORAGE_SECONDS - 2:
            pytest.skip("the sign-in took too long to cut the power before localStorage")
    with cuts.running() as (chromium, tablet):
        tablet.open()
        tablet.page.wait_for_selector("#username, [data-account]")  # sign-in or unlock
        tablet.shot("after-a-cut-right-after-sign-in")
        assert tablet.page.locator(f"[data-account='{ME}']").count() == 1
