"""A station hub is the county's own gateway over the hub's store (`fieldsync hub`): the
station's accounts come down from the county, so its volunteers sign in at the hub with
no county in reach; a tablet syncs with the hub as with the county, a bad record is
refused at the station with a notice back to the tablet, and the hub's link forwards
the station's work to the county with each record's author."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from support.county import (
    OTHER_VILLAGE,
    PASSWORD,
    VILLAGE,
    County,
    county_store,
    invalid_records,
    live_county,
    quarantined,
    village_records,
)
from support.hub import county_and_hub, hub_link
from support.tablet import free_port

from server.services import services
from sync import SqliteStore
from sync.open import open_store
from sync.replicator import replicate

COUNTY_CODE = VILLAGE[:6]


def signs_in(at: County, username: str, password: str = PASSWORD) -> int:
    answer = requests.post(f"{at.url}/_session", json={"name": username, "password": password},
                           timeout=30)  # fmt: skip
    return answer.status_code


def test_a_tablet_syncs_at_the_hub_and_the_hub_forwards_to_the_county(tmp_path: Path) -> None:
    people = [("laoli", "station_lead", VILLAGE), ("xiaowang", "volunteer", VILLAGE)]
    with county_and_hub(tmp_path, people) as (county, hub):
        link = hub_link(county, hub)
        first = link.run_once()  # the station's reference data, roster and accounts
        assert first.ok, first.error
        assert county_store(hub).get("user:xiaowang")["role"] == "volunteer"
        assert first.accounts == 2 and signs_in(hub, "xiaowang") == 200

        tablet = SqliteStore(tmp_path / "tablet.sqlite")
        good = village_records(VILLAGE, 2, author="xiaowang")
        bad = invalid_records(VILLAGE, author="xiaowang")
        for doc in good + bad:
            tablet.put(doc)
        at_hub = open_store(hub.db_url("xiaowang"))
        pushed = replicate(tablet, at_hub)
        assert pushed.docs_written == len(good)
        assert sorted(doc_id for doc_id, _ in quarantined(hub)) == sorted(d["_id"] for d in bad)
        replicate(at_hub, tablet)  # the station's notices reach the tablet at once
        notices = [r["doc"] for r in tablet.all_docs(include_docs=True)
                   if r["id"].startswith("rejection_notice:")]  # fmt: skip
        assert sorted(n["about"] for n in notices) == sorted(d["_id"] for d in bad)

        forwarded = link.run_once()
        assert forwarded.ok and forwarded.refused == []
        on_county = county_store(county)
        for doc in good:
            arrived = on_county.get(doc["_id"], conflicts=True)
            assert arrived["author"] == "user:xiaowang" and "_conflicts" not in arrived
        assert not quarantined(county)  # the bad ones never left the station
        again = link.run_once()
        assert again.sent == 0 and again.accounts == 0


def test_only_the_stations_people_reach_its_hub_and_the_county_decides(tmp_path: Path) -> None:
    with (
        live_county(tmp_path / "county", None) as county,
        live_county(tmp_path / "hub", None) as hub,
    ):
        county.add_places(VILLAGE, OTHER_VILLAGE)
        county.add_user("laoli", "station_lead", VILLAGE)
        county.add_user("xiaowang", "volunteer", VILLAGE)
        county.add_user("xiaoli", "volunteer", VILLAGE)
        county.add_user("ahua", "volunteer", OTHER_VILLAGE)
        county.add_user("chen", "county_staff", COUNTY_CODE)
        county.add_user("it", "admin", COUNTY_CODE)
        with hub.app.app_context():  # an account the hub's own admin made: never touched
            services().users.create("guest", PASSWORD, "volunteer", VILLAGE)
        link = hub_link(county, hub)
        assert link.run_once().ok
        hub_accounts = hub.app.extensions["fieldsync"].users
        assert [u.username for u in hub_accounts.list_users()] == [
            "guest",
            "laoli",
            "xiaoli",
            "xiaowang",
        ]
        for doc in hub_accounts.documents():  # hashes, never a password
            assert doc["password_hash"].startswith("scrypt$") and PASSWORD not in str(doc)
        assert (signs_in(hub, "ahua"), signs_in(hub, "chen")) == (401, 401)

        with county.app.app_context():
            services().users.set_active("xiaoli", False)
            services().users.set_password("xiaowang", "a new password for xiaowang")
        assert signs_in(hub, "xiaoli") == 200  # the hub has not heard yet
        assert link.run_once().accounts == 2
        assert signs_in(hub, "xiaoli") == 401
        assert signs_in(hub, "xiaowang") == 401
        assert signs_in(hub, "xiaowang", "a new password for xiaowang") == 200
        assert signs_in(hub, "guest") == 200


def test_nobody_reads_accounts_but_a_leads_hub(tmp_path: Path) -> None:
    with (
        live_county(tmp_path / "county", None) as county,
        live_county(tmp_path / "hub", None) as hub,
    ):
        county.add_places(VILLAGE)
        for name, role, scope in [("laoli", "station_lead", VILLAGE),
                                  ("xiaowang", "volunteer", VILLAGE),
                                  ("chen", "county_staff", COUNTY_CODE),
                                  ("it", "admin", COUNTY_CODE)]:  # fmt: skip
            county.add_user(name, role, scope)
        assert hub_link(county, hub).run_once().ok
        for server, people in ((county, ["xiaowang", "chen", "it"]), (hub, ["xiaowang"])):
            for who in people:
                session = server.session(who)
                for path in ("/accounts/", "/accounts/_all_docs?include_docs=true"):
                    assert session.get(server.url + path, timeout=30).status_code == 403
            assert requests.get(f"{server.url}/accounts/_all_docs", timeout=30).status_code == 401
            for who in people + (["laoli"] if server is county else []):
                session = server.session(who)
                assert (
                    session.get(f"{server.url}/db/account:xiaowang", timeout=30).status_code == 404
                )
                listed = session.get(f"{server.url}/db/_all_docs?include_docs=true", timeout=30)
                assert listed.status_code == 200
                assert "password_hash" not in listed.text and "account:" not in listed.text
                changes = session.get(f"{server.url}/db/_changes?include_docs=true", timeout=30)
                assert "password_hash" not in changes.text
        lead = county.session("laoli").get(f"{county.url}/accounts/_all_docs", timeout=30)
        assert [row["id"] for row in lead.json()["rows"]] == ["account:laoli", "account:xiaowang"]


def test_two_stations_hubs_share_nothing_of_each_others_scope(tmp_path: Path) -> None:
    people = [("laoli", "station_lead", VILLAGE), ("xiaowang", "volunteer", VILLAGE),
              ("laozhang", "station_lead", OTHER_VILLAGE),
              ("ahua", "volunteer", OTHER_VILLAGE)]  # fmt: skip
    with (
        county_and_hub(tmp_path, people, (VILLAGE, OTHER_VILLAGE)) as (county, hub_a),
        live_county(tmp_path / "hub-b", None) as hub_b,
    ):
        links = {"a": hub_link(county, hub_a, "laoli"), "b": hub_link(county, hub_b, "laozhang")}
        assert all(link.run_once().ok for link in links.values())
        work = {"a": village_records(VILLAGE, 3, author="xiaowang"),
                "b": village_records(OTHER_VILLAGE, 3, author="ahua")}  # fmt: skip
        for key, hub, who in (("a", hub_a, "xiaowang"), ("b", hub_b, "ahua")):
            tablet = SqliteStore(tmp_path / f"tablet-{key}.sqlite")
            tablet.bulk_docs(work[key])
            assert replicate(tablet, open_store(hub.db_url(who))).docs_written == len(work[key])
        for _ in range(2):  # each forwards, then each hears what the other forwarded
            assert all(link.run_once().ok for link in links.values())
        on_county = county_store(county)
        assert all(on_county.get(d["_id"])["_rev"] for d in work["a"] + work["b"])
        for hub, own, other in ((hub_a, VILLAGE, OTHER_VILLAGE), (hub_b, OTHER_VILLAGE, VILLAGE)):
            held = [row["doc"] for row in county_store(hub).all_docs(include_docs=True)]
            assert not [d["_id"] for d in held if str(d.get("place", "")).startswith(other)]
            assert any(str(d.get("place", "")).startswith(own) for d in held)
            names = {u.username for u in hub.app.extensions["fieldsync"].users.list_users()}
            assert names == ({"laoli", "xiaowang"} if own == VILLAGE else {"laozhang", "ahua"})


def test_the_demo_serves_the_villages_hub_beside_the_county(tmp_path: Path) -> None:
    port = free_port()
    while not port_is_free(port + 1):
        port = free_port()
    demo = tmp_path / "demo"
    command = [str(Path(sys.executable).parent / "fieldsync"), "demo", "--data-dir", str(demo),
               "--rounds", "1", "--port", str(port)]  # fmt: skip
    env = {**os.environ, "FIELDSYNC_UPSTREAM_IDLE_SECONDS": "1"}
    with (tmp_path / "demo.log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    hub = f"http://127.0.0.1:{port + 1}"
    try:
        session = requests.Session()

        def lead_in() -> bool:
            try:
                form = {"name": "laoli", "password": "demo-pass-2024"}
                return session.post(f"{hub}/station/sign-in", data=form, timeout=5).ok
            except requests.ConnectionError:
                return False

        deadline = time.monotonic() + 90
        while not lead_in():
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()[-2000:]
            time.sleep(0.2)
        summary = session.get(f"{hub}/station/summary.json", timeout=30).json()
        assert summary["scope"] == "422827100001" and summary["county"]["last_error"] is None
        assert "user:xiaowang" in summary["names"]
        assert requests.get(f"{hub}/app/", timeout=30).status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert "Station hub 站点服务" in (tmp_path / "demo.log").read_text()
    rebuilt = subprocess.run([*command[:-2], "--no-serve", "--rebuild"], capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "hub/county.sqlite" in rebuilt.stdout and not (demo / "hub").exists()


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
