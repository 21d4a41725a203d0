"""A station hub under the faults of the field: the LAN dropping again and again (the
fault proxy between tablet and hub and between hub and county), the county going away
in the middle of a forward, and the hub's own process killed mid-forward (`fieldsync
hub`, SIGKILL). Each time: nothing lost, nothing duplicated (every record on the county
once, with its author, no conflicts), and a resumed forward re-sends at most a batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from support.county import PASSWORD, VILLAGE, County, county_store, live_county, village_records
from support.fault_proxy import FaultPlan, FaultProxy
from support.hub import county_and_hub, hub_link
from support.tablet import free_port

from server.hub.upstream import PUSH_BATCH
from sync import SqliteStore
from sync.http_client import RetryPolicy
from sync.open import open_store
from sync.replicator import replicate

PEOPLE = [("laoli", "station_lead", VILLAGE), ("xiaowang", "volunteer", VILLAGE)]


def a_day(tmp_path: Path, rounds: int) -> tuple[SqliteStore, list[dict]]:
    tablet = SqliteStore(tmp_path / "tablet.sqlite")
    docs = village_records(VILLAGE, rounds, author="xiaowang")
    tablet.bulk_docs(docs)
    return tablet, docs


def each_once_with_author(county: County, docs: list[dict]) -> None:
    store = county_store(county)
    for doc in docs:
        arrived = store.get(doc["_id"], conflicts=True)
        assert arrived["author"] == "user:xiaowang" and "_conflicts" not in arrived
        assert arrived["_rev"].startswith("1-")


def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def on_county(county: County, docs: list[dict]) -> int:
    found = county_store(county).all_docs(keys=[d["_id"] for d in docs])
    return sum(1 for row in found if "value" in row)


def test_a_lan_dropping_again_and_again_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with county_and_hub(tmp_path, PEOPLE) as (county, hub):
        assert hub_link(county, hub).run_once().ok
        tablet, docs = a_day(tmp_path, 60)
        plan = FaultPlan(seed=13, rate=0.3, max_faults=25)
        with FaultProxy(upstream=hub.url, plan=plan) as lan:
            at_hub = hub.db_url("xiaowang").replace(hub.url[7:], lan.url[7:])
            for _attempt in range(40):
                try:
                    replicate(tablet, open_store(at_hub, retry=RetryPolicy(attempts=1)))
                    break
                except Exception:  # noqa: BLE001 - any cut link: the tablet syncs again
                    continue
            assert lan.plan.injected > 0
        hub_store = county_store(hub)
        for doc in docs:
            assert "_conflicts" not in hub_store.get(doc["_id"], conflicts=True)
        plan = FaultPlan(seed=14, rate=0.3, max_faults=25)
        with FaultProxy(upstream=county.url, plan=plan) as uplink:
            link = hub_link(county, hub, via=uplink.url)
            rounds = [link.run_once()]
            while not rounds[-1].ok and len(rounds) < 40:
                rounds.append(link.run_once())
            assert rounds[-1].ok and uplink.plan.injected > 0
        each_once_with_author(county, docs)
        failed = sum(1 for done in rounds if not done.ok)
        assert sum(done.sent for done in rounds) - len(docs) <= PUSH_BATCH * failed


def test_the_county_going_away_mid_forward_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    port = free_port()
    with live_county(tmp_path / "county", None, port=port) as county:
        county.add_places(VILLAGE)
        for name, role, scope in PEOPLE:
            county.add_user(name, role, scope)
    tablet, docs = a_day(tmp_path, 500)  # 1,500 documents: three batches
    with live_county(tmp_path / "hub", None) as hub:
        with live_county(tmp_path / "county", None, port=port) as county:
            assert hub_link(county, hub).run_once().ok
        replicate(tablet, open_store(hub.db_url("xiaowang")))
        slow = FaultPlan(rate=1.0, kinds=["delay"], delay_ms=(200, 200), only_paths="_bulk_docs")
        with live_county(tmp_path / "county", None, port=port) as county, \
                FaultProxy(upstream=county.url, plan=slow) as uplink:  # fmt: skip
            link = hub_link(county, hub, via=uplink.url)
            first: list = []
            forward = threading.Thread(target=lambda: first.append(link.run_once()))
            forward.start()
            until(lambda: on_county(county, docs) > 0, 60, "the first batch")
        forward.join(timeout=60)  # the county is gone: the round stops
        assert not first[0].ok
        with live_county(tmp_path / "county", None, port=port) as county:
            landed = on_county(county, docs)
            assert 0 < landed < len(docs)
            done = hub_link(county, hub).run_once()
            assert done.ok, done.error
            assert done.sent <= len(docs) - landed + PUSH_BATCH
            each_once_with_author(county, docs)


def test_the_hub_killed_mid_forward_resumes_where_it_stopped(tmp_path: Path) -> None:
    tablet, docs = a_day(tmp_path, 500)
    with county_and_hub(tmp_path, PEOPLE) as (county, _unused):
        slow = FaultPlan(rate=1.0, kinds=["delay"], delay_ms=(200, 200), only_paths="_bulk_docs")
        with FaultProxy(upstream=county.url, plan=slow) as uplink:
            hub_dir, port = tmp_path / "laptop", free_port()
            county_db = f"{uplink.url.replace('http://', 'http://laoli@')}/db"

            def start(log: str) -> subprocess.Popen:
                command = [
                    str(Path(sys.executable).parent / "fieldsync"),
                    "hub",
                    county_db,
                    "--data-dir",
                    str(hub_dir),
                    "--port",
                    str(port),
                    "--password-stdin",
                ]
                env = {**os.environ, "FIELDSYNC_UPSTREAM_IDLE_SECONDS": "1"}
                with (tmp_path / log).open("w") as errors:  # the child keeps its own copy
                    process = subprocess.Popen(command, stdin=subprocess.PIPE, env=env,
                                               text=True, stdout=subprocess.DEVNULL,
                                               stderr=errors)  # fmt: skip
                process.stdin.write(PASSWORD + "\n")
                process.stdin.close()
                return process

            def signs_in() -> bool:
                try:
                    return requests.post(f"http://127.0.0.1:{port}/_session", timeout=5,
                                         json={"name": "xiaowang", "password": PASSWORD}
                                         ).status_code == 200  # fmt: skip
                except requests.ConnectionError:
                    return False

            hub = start("hub-1.log")
            try:
                until(signs_in, 60, "the station's accounts on the hub")
                replicate(tablet, open_store(f"http://xiaowang:{PASSWORD}@127.0.0.1:{port}/db"))
                until(lambda: on_county(county, docs) > 0, 60, "the forward to begin")
                hub.send_signal(signal.SIGKILL)
                hub.wait(timeout=10)
            finally:
                if hub.poll() is None:
                    hub.kill()
            landed = on_county(county, docs)
            assert 0 < landed < len(docs)
            hub = start("hub-2.log")
            try:
                until(lambda: on_county(county, docs) == len(docs), 120, "every record")
            finally:
                hub.terminate()
                assert hub.wait(timeout=30) == 0
            each_once_with_author(county, docs)
            rounds = [json.loads(line) for line in (tmp_path / "hub-2.log").read_text().splitlines()
                      if '"event":"upstream"' in line]  # fmt: skip
            assert sum(done["sent"] for done in rounds) <= len(docs) - landed + PUSH_BATCH
