"""The hub's link to the county (server/hub/upstream.py): rounds of push and pull as
the station lead against a live county, refusals that do not stop a round, backoff with
jitter when the county is away, and a wait that notices the laptop slept."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from support.county import (
    VILLAGE,
    County,
    county_store,
    invalid_records,
    live_county,
    village_records,
)
from support.tablet import free_port

from server.hub import upstream
from server.hub.upstream import BACKOFF_BASE, Upstream, backoff
from sync import SqliteStore
from sync.http_client import RetryPolicy
from sync.open import open_store


@pytest.fixture
def county(tmp_path: Path):  # type: ignore[no-untyped-def]
    with live_county(tmp_path / "county", None) as running:
        running.add_places(VILLAGE)
        running.add_user("laoli", "station_lead", VILLAGE)
        running.add_user("xiaowang", "volunteer", VILLAGE)
        yield running


def _link(county: County, local: SqliteStore) -> Upstream:
    url = county.db_url("laoli")
    return Upstream(local, lambda: open_store(url, retry=RetryPolicy(attempts=1)))


def test_a_round_sends_the_stations_work_with_its_authors_and_brings_the_countys(
    county: County, tmp_path: Path
) -> None:
    local = SqliteStore(tmp_path / "hub.sqlite")
    good = village_records(VILLAGE, 2, author="xiaowang")
    bad = invalid_records(VILLAGE, author="xiaowang")
    for doc in good + bad:
        local.put(doc)
    link = _link(county, local)
    first = link.run_once()
    assert first.ok, first.error
    assert first.sent == len(good)
    assert sorted(row["id"] for row in first.refused) == sorted(doc["_id"] for doc in bad)
    for doc in good:
        assert county_store(county).get(doc["_id"])["author"] == "user:xiaowang"
    # The county's side came down: its reference data and the notices of the refusals.
    assert local.get(f"station:{VILLAGE}")["type"] == "station"
    notices = [r["id"] for r in local.all_docs() if r["id"].startswith("rejection_notice:")]
    assert len(notices) == len(bad)
    again = link.run_once()
    assert again.ok and again.sent == 0 and link.failures == 0


def test_an_unreachable_county_backs_off_with_jitter(tmp_path: Path) -> None:
    local = SqliteStore(tmp_path / "hub.sqlite")
    url = f"http://laoli:x@127.0.0.1:{free_port()}/db"  # nobody listens there
    link = Upstream(local, lambda: open_store(url, retry=RetryPolicy(attempts=1)),
                    rng=random.Random(7))  # fmt: skip
    waits = []
    for failures in (1, 2, 3):
        done = link.run_once()
        assert not done.ok and "连不上县级服务器" in done.error
        assert link.failures == failures
        waits.append(link.next_wait())
        ceiling = BACKOFF_BASE * 2 ** (failures - 1)
        assert ceiling / 2 <= waits[-1] <= ceiling
    assert len(set(waits)) == 3
    assert all(backoff(50, random.Random(seed)) <= upstream.BACKOFF_CAP for seed in range(20))


def test_a_wait_ends_soon_after_the_laptop_wakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "SLICE_SECONDS", 0.01)
    now = [1000.0]

    def wall_clock() -> float:
        now[0] += 400.0  # each look at the clock: the laptop slept 400 s meanwhile
        return now[0]

    link = Upstream(None, lambda: None, wall_clock=wall_clock)  # type: ignore[arg-type]
    stop = threading.Event()
    waiter = threading.Thread(target=link._wait, args=(600.0, stop))
    waiter.start()
    waiter.join(timeout=5)
    assert not waiter.is_alive()


def test_the_loop_stops_when_asked(county: County, tmp_path: Path) -> None:
    link = _link(county, SqliteStore(tmp_path / "hub.sqlite"))
    stop = threading.Event()
    rounds = []
    loop = threading.Thread(target=link.run, args=(stop, lambda r: (rounds.append(r), stop.set())))
    loop.start()
    loop.join(timeout=30)
    assert not loop.is_alive() and len(rounds) == 1 and rounds[0].ok
