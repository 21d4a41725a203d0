"""Waiting feeds never hold the workers other requests need.

Before, each waiting `_changes?feed=longpoll` (a tablet in live sync keeps one open,
as PouchDB's does) held one of waitress's 8 worker threads: with 12 waiting, `/health`
timed out after 30 s. Now a feed waits only in a feed slot, and the server has a thread
for every slot besides its workers (`server.gateway.feeds.waitress_options`); a feed
that finds no free slot is answered at once, as CouchDB answers at its timeout.
The server here is built as `fieldsync serve` builds it (waitress, 8 workers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from support.county import VILLAGE, County, county_store
from support.standard_clients import authored
from support.waitress_county import waitress_county

from server.demo_county import DemoCounty
from server.gateway.feeds import DEFAULT_FEED_SLOTS, feed_slots, waitress_options

THREADS = 8
FEEDS = 3 * THREADS  # more waiting feeds than the server has workers
PROMPT = 5.0  # seconds: "answers promptly" on a loaded 2-core machine (before: 14 s, or 30 s)
USER = "lin"


@pytest.fixture(scope="module", params=["embedded", "couchdb"])
def county(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[County]:
    couch_url = request.getfixturevalue("couch_url") if request.param == "couchdb" else None
    data_dir: Path = tmp_path_factory.mktemp("county")
    with waitress_county(
        data_dir, couch_url, threads=THREADS, LONGPOLL_SECONDS=5, FEED_SLOTS=FEEDS + 4
    ) as running:
        running.add_user(USER, "volunteer", VILLAGE)
        for n in range(FEEDS):
            running.add_user(f"tablet{n}", "volunteer", VILLAGE)
        yield running


def _patrol(seed: int) -> dict:
    demo = DemoCounty(seed=seed)
    return authored(demo.patrol(next(v for v in demo.villages if v.code == VILLAGE)), USER)


def _open_feeds(county: County, pool: ThreadPoolExecutor, **params: str) -> list[Future]:
    def wait(n: int) -> requests.Response:
        with county.session(f"tablet{n}") as session:
            return session.get(f"{county.url}/db/_changes", params=params, timeout=60)

    feeds = [pool.submit(wait, n) for n in range(FEEDS)]
    time.sleep(1.5)  # every feed is waiting now
    return feeds


def _timed(call) -> tuple[requests.Response, float]:  # noqa: ANN001
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_waiting_feeds_leave_health_pushes_and_pages_answering(county: County) -> None:
    patrol = _patrol(61)
    with ThreadPoolExecutor(FEEDS) as pool:
        feeds = _open_feeds(county, pool, feed="longpoll", since="now", timeout="5000")
        assert not any(f.done() for f in feeds), "the feeds should be waiting"
        with county.session(USER) as session:
            health, health_took = _timed(lambda: requests.get(f"{county.url}/health", timeout=30))
            pushed, push_took = _timed(
                lambda: session.put(f"{county.url}/db/{patrol['_id']}", json=patrol, timeout=30)
            )
            page, page_took = _timed(
                lambda: session.get(f"{county.url}/db/_all_docs", params={"limit": 5}, timeout=30)
            )
        assert health.status_code == 200 and health_took < PROMPT, health_took
        assert pushed.status_code == 201 and push_took < PROMPT, (pushed.text, push_took)
        assert page.status_code == 200 and page_took < PROMPT, page_took
        # The push woke the waiting feeds: each answers with it.
        answers = [f.result(timeout=30) for f in feeds]
    for answer in answers:
        assert answer.status_code == 200
        assert patrol["_id"] in {row["id"] for row in answer.json()["results"]}


def test_waiting_continuous_feeds_with_heartbeats_leave_workers_free(county: County) -> None:
    with ThreadPoolExecutor(FEEDS) as pool:
        feeds = _open_feeds(
            county, pool, feed="continuous", since="now", heartbeat="500", timeout="3000"
        )
        with county.session(USER) as session:
            page, took = _timed(lambda: session.get(f"{county.url}/db/", timeout=30))
        assert page.status_code == 200 and took < PROMPT, took
        answers = [f.result(timeout=30) for f in feeds]
    for answer in answers:
        lines = answer.text.split("\n")
        assert "" in lines[:-2]  # heartbeats
        assert set(json.loads(lines[-2])) == {"last_seq", "pending"}


def test_a_feed_beyond_the_slots_is_answered_at_once(tmp_path: Path) -> None:
    with waitress_county(tmp_path / "county", None, threads=2, FEED_SLOTS=1) as county:
        county.add_user(USER, "volunteer", VILLAGE)
        with ThreadPoolExecutor(1) as pool, county.session(USER) as session:
            url = f"{county.url}/db/_changes"
            held = pool.submit(
                session.get, url, params={"feed": "longpoll", "since": "now"}, timeout=30
            )
            time.sleep(1)
            longpoll, took = _timed(
                lambda: session.get(url, params={"feed": "longpoll", "since": "now"}, timeout=30)
            )
            assert longpoll.status_code == 200 and took < 1.5, took
            assert longpoll.json()["results"] == []
            continuous, took = _timed(
                lambda: session.get(url, params={"feed": "continuous", "since": "now"}, timeout=30)
            )
            assert continuous.status_code == 200 and took < 1.5, took
            (line,) = continuous.text.splitlines()
            assert set(json.loads(line)) == {"last_seq", "pending"}
            county_store(county).bulk_docs([_patrol(62)])
            assert held.result(timeout=30).json()["results"]  # the one that waited got it


def test_the_server_gets_a_thread_for_every_feed_slot_besides_its_workers() -> None:
    options = waitress_options({"FEED_SLOTS": 50, "LONGPOLL_SECONDS": 55}, 8)
    assert options["threads"] == 58
    assert options["connection_limit"] >= 2 * 58
    assert options["asyncore_use_poll"] is True
    assert options["channel_timeout"] > 55
    assert feed_slots({}) == DEFAULT_FEED_SLOTS
    with pytest.raises(ValueError):
        feed_slots({"FEED_SLOTS": -1})
