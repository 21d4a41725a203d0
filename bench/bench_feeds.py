"""Waiting feeds against syncing tablets: does live sync of many tablets slow the others?

    .venv/bin/python bench/bench_feeds.py                     # 200 watching, 20 syncing
    .venv/bin/python bench/bench_feeds.py --watchers 50 --tablets 5 --backends embedded

The county server is the real app under waitress, built as `fieldsync serve` should
build it (`server.gateway.feeds.waitress_options`: --threads workers plus a thread per
feed slot), on 127.0.0.1 in a thread of this process, over each backend: the embedded
SqliteStore and CouchDB protocol (an in-memory pouchdb-server from tests/peers).

--tablets tablets (threads of this process, our replicator with a SqliteStore each,
each its own volunteer in its own village, scoped to a grid that round alone uses, so
both rounds pull alike) push a day's records (--tablet-docs) and pull what the county
holds for them (--tablet-pull), all at once: first with nothing else going on, then
while --watchers other tablets hold live feeds open (a child
process: one thread each, its own volunteer spread over the villages, looping on
``_changes?feed=longpoll&heartbeat=10000&since=...`` as PouchDB's live sync does; the
server ends each wait after --hold seconds and the watcher asks again). Printed: the
syncing tablets' p50/p95/max sync time without and with the feeds and their ratio
(target: within 1.5x), errors of either kind (target 0), the slowest `/health` while
the feeds were held, and how many feeds the server held at once.

Bounded: every request has a timeout, the watchers stop when the run ends, nothing
leaves 127.0.0.1. It measures and never fails on a miss (exit status 0).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable as a plain script from a checkout
sys.path.insert(0, str(ROOT / "tests"))

import requests  # noqa: E402
from waitress import create_server, wasyncore  # noqa: E402

from server.accounts.roster import user_document  # noqa: E402
from server.app import create_app  # noqa: E402
from server.demo_county import DemoCounty, Village, recorded_by, villages  # noqa: E402
from server.gateway.feeds import EXTENSION, waitress_options  # noqa: E402
from server.services import services  # noqa: E402
from sync.couch_store import CouchStore  # noqa: E402
from sync.replicator import replicate  # noqa: E402
from sync.sqlite_store import SqliteStore  # noqa: E402

PASSWORD = "bench-pass-2024"
HTTP_TIMEOUT = 120
RUN_TIMEOUT = 600  # seconds: a sync round that takes longer is reported, not waited for


def _log(message: str) -> None:
    print(f"[bench_feeds] {message}", file=sys.stderr, flush=True)


# -- the county server ------------------------------------------------------------------------


class County:
    def __init__(self, workdir: Path, couch_url: str | None, opts: argparse.Namespace) -> None:
        config: dict[str, object] = {
            "DATA_DIR": str(workdir / f"county-{uuid.uuid4().hex[:6]}"),
            "SECRET_KEY": "bench",
            "LONGPOLL_SECONDS": opts.hold,
            "FEED_SLOTS": opts.feed_slots,
        }
        self.couch_db = f"{couch_url}/county-{uuid.uuid4().hex[:10]}" if couch_url else None
        if self.couch_db:
            config["COUCHDB_URL"] = self.couch_db
        self.app = create_app(config)
        self.app.extensions["fieldsync.log"] = _Quiet()
        self.options = waitress_options(self.app.config, opts.threads)
        self.server = create_server(self.app, host="127.0.0.1", port=0, **self.options)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()

    @property
    def store(self) -> object:
        return self.app.extensions["fieldsync"].store

    @property
    def feeds_waiting(self) -> int:
        return self.app.extensions[EXTENSION].waiting

    def add_users(self, users: list[tuple[str, str]]) -> None:
        """Accounts and roster entries: (username, scope: a village or one of its grids)."""
        docs = [
            user_document(
                name,
                "volunteer",
                code,
                name,
                team=f"team:{code[:12]}",
                station=f"station:{code[:12]}",
            )
            for name, code in users
        ]
        for start in range(0, len(docs), 500):
            rows = self.store.bulk_docs(docs[start : start + 500])  # type: ignore[attr-defined]
            assert all(row.get("ok") for row in rows), rows[:3]
        with self.app.app_context():
            accounts = services().users
            for name, code in users:
                accounts.create(name, PASSWORD, "volunteer", code)

    def close(self) -> None:
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self._thread.join(timeout=30)
        self.server.task_dispatcher.shutdown(timeout=30)
        self.app.extensions["fieldsync"].close()
        if self.couch_db:
            requests.delete(self.couch_db, timeout=HTTP_TIMEOUT)


class _Quiet:
    """Stands in for the request log (one JSON line a request would swamp the terminal)."""

    def write(self, record: dict) -> None:
        pass


# -- the tablets that sync --------------------------------------------------------------------


def village_docs(
    seed: int, village: Village, grid: str, count: int, author: str | None
) -> list[dict]:
    """`count` valid records of `village`, all in `grid`, recorded by `author` if given."""
    demo = DemoCounty(seed)
    docs: list[dict] = []
    while len(docs) < count:
        household = demo.household(village)
        docs += [household, demo.home_visit(village, household["_id"]), demo.patrol(village)]
    docs = [{**doc, "place": grid} for doc in docs[:count]]
    return recorded_by(docs, author) if author else docs


def pusher(round_no: int, i: int) -> tuple[str, str]:
    """The syncing tablet `i` of a round: its username and its scope, a grid of its own
    village that no other round uses (so every round pulls alike: its own records and
    the --tablet-pull the county holds for it, never an earlier round's)."""
    village = villages()[i]
    return f"r{round_no}tablet{i:02d}", village.grids()[round_no]


@dataclass
class Round:
    times: list[float]
    errors: list[str]
    wall: float

    def quantile(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def sync_round(
    county: County, workdir: Path, opts: argparse.Namespace, seed: int, label: str
) -> Round:
    """Every syncing tablet pushes its own new records, then pulls its village's, at once."""
    plans = []
    for i in range(opts.tablets):
        village = villages()[i]
        username, grid = pusher(seed, i)
        own = village_docs(seed * 1000 + i, village, grid, opts.tablet_docs, username)
        theirs = village_docs(seed * 1000 + 500 + i, village, grid, opts.tablet_pull, None)
        for start in range(0, len(theirs), 500):
            county.store.bulk_docs(theirs[start : start + 500])  # type: ignore[attr-defined]
        tablet = SqliteStore(workdir / f"{label}-{i}.sqlite")
        tablet.bulk_docs(own)
        plans.append((username, tablet))
    barrier = threading.Barrier(len(plans))

    def sync_one(plan: tuple[str, SqliteStore]) -> tuple[float, str | None]:
        username, tablet = plan
        gateway = CouchStore(
            f"{county.url}/db", username=username, password=PASSWORD, timeout=HTTP_TIMEOUT
        )
        with gateway:
            barrier.wait(timeout=60)
            started = time.perf_counter()
            try:
                pushed = replicate(tablet, gateway, batch_size=opts.batch)
                pulled = replicate(gateway, tablet, batch_size=opts.batch)
                problem = None
                if not pushed.ok or pushed.docs_written != opts.tablet_docs:
                    problem = f"{username}: push wrote {pushed.docs_written}, {pushed.failures[:1]}"
                elif not pulled.ok or pulled.docs_written < opts.tablet_pull:
                    problem = f"{username}: pull wrote {pulled.docs_written}"
            except Exception as exc:  # counted and reported, never fatal
                problem = f"{username}: {exc!r}"[:300]
            return time.perf_counter() - started, problem

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        outcomes = list(pool.map(sync_one, plans, timeout=RUN_TIMEOUT))
    wall = time.perf_counter() - started
    for _, tablet in plans:
        tablet.close()
    return Round([t for t, _ in outcomes], [e for _, e in outcomes if e], wall)


# -- the tablets that watch -------------------------------------------------------------------


def watch_main(url: str, users: list[str], stop, counts) -> None:  # noqa: ANN001 - mp objects
    """A child process: one thread per watcher, each looping on a longpoll feed with
    heartbeats (PouchDB's live pull) until `stop` is set. `counts` gets (answers, errors,
    first error) back."""
    answers, errors, first_error = [0], [0], [""]
    lock = threading.Lock()

    def watch(username: str) -> None:
        with requests.Session() as session:
            session.auth = (username, PASSWORD)
            since: object = "now"
            while not stop.is_set():
                try:
                    answer = session.get(
                        f"{url}/db/_changes",
                        params={"feed": "longpoll", "heartbeat": 10000, "since": since},
                        timeout=HTTP_TIMEOUT,
                    )
                    answer.raise_for_status()
                    since = answer.json()["last_seq"]
                    with lock:
                        answers[0] += 1
                except Exception as exc:  # counted and reported
                    with lock:
                        errors[0] += 1
                        first_error[0] = first_error[0] or repr(exc)[:300]
                    stop.wait(1)

    threads = [threading.Thread(target=watch, args=(u,), daemon=True) for u in users]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT)
    counts.put((answers[0], errors[0], first_error[0]))


@contextmanager
def watching(county: County, users: list[str]) -> Iterator[dict]:
    context = multiprocessing.get_context("spawn")
    stop, counts = context.Event(), context.Queue()
    child = context.Process(target=watch_main, args=(county.url, users, stop, counts))
    child.start()
    result: dict = {}
    try:
        deadline = time.monotonic() + 120
        while county.feeds_waiting < len(users) and time.monotonic() < deadline:
            time.sleep(0.2)
        result["held"] = county.feeds_waiting
        yield result
    finally:
        stop.set()
        try:
            answers, errors, first = counts.get(timeout=HTTP_TIMEOUT + 30)
        except Exception:  # noqa: BLE001 - the child died: say so
            answers, errors, first = 0, len(users), "the watchers' process gave no report"
        child.join(timeout=30)
        result.update(answers=answers, errors=errors, first_error=first)


def health_probe(county: County, stop: threading.Event, worst: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            requests.get(f"{county.url}/health", timeout=HTTP_TIMEOUT).raise_for_status()
            worst[0] = max(worst[0], time.perf_counter() - started)
        except requests.RequestException:
            worst[0] = float("inf")
        stop.wait(0.5)


# -- the run ----------------------------------------------------------------------------------


def run_backend(workdir: Path, couch_url: str | None, opts: argparse.Namespace) -> list[str]:
    backend = "CouchDB protocol (pouchdb-server)" if couch_url else "embedded SqliteStore"
    workdir = workdir / ("couchdb" if couch_url else "embedded")
    workdir.mkdir()
    county = County(workdir, couch_url, opts)
    try:
        all_villages = villages()
        pushers = [pusher(0, i) for i in range(2)]
        pushers += [pusher(r, i) for r in (1, 2) for i in range(opts.tablets)]
        # Watchers in every village by default; --watch-elsewhere: only in villages nobody
        # syncs in (their feeds are never woken by the syncing tablets' pushes).
        watched = all_villages[opts.tablets :] if opts.watch_elsewhere else all_villages
        watchers = [(f"watch{n:03d}", watched[n % len(watched)].code) for n in range(opts.watchers)]
        _log(f"{backend}: creating {len(pushers) + len(watchers)} users")
        county.add_users(pushers + watchers)
        _log(f"{backend}: warm-up")
        sync_round(county, workdir, argparse.Namespace(**{**vars(opts), "tablets": 2}), 0, "warm")
        _log(f"{backend}: {opts.tablets} tablets sync, no feeds waiting")
        quiet = sync_round(county, workdir, opts, 1, "quiet")
        _log(f"{backend}: {opts.watchers} tablets hold live feeds; {opts.tablets} tablets sync")
        worst_health = [0.0]
        with watching(county, [name for name, _ in watchers]) as watched:
            stop = threading.Event()
            probe = threading.Thread(target=health_probe, args=(county, stop, worst_health))
            probe.start()
            busy = sync_round(county, workdir, opts, 2, "busy")
            held_during = county.feeds_waiting
            stop.set()
            probe.join(timeout=HTTP_TIMEOUT)
    finally:
        county.close()
    ratio = statistics.median(busy.times) / statistics.median(quiet.times)
    return [
        f"| {backend} | without feeds | {quiet.quantile(0.5):.2f} | {quiet.quantile(0.95):.2f} "
        f"| {max(quiet.times):.2f} | {quiet.wall:.2f} | {len(quiet.errors)} | - | - | - |",
        f"| {backend} | {opts.watchers} feeds held | {busy.quantile(0.5):.2f} "
        f"| {busy.quantile(0.95):.2f} | {max(busy.times):.2f} | {busy.wall:.2f} "
        f"| {len(busy.errors)} | {watched['errors']} | {held_during} "
        f"| {worst_health[0]:.2f} |",
        f"| {backend} | ratio (median, with / without) | {ratio:.2f}x | | | | | | | |",
        *(f"  error: {e}" for e in (quiet.errors + busy.errors)[:5]),
        *([f"  watcher error: {watched['first_error']}"] if watched["errors"] else []),
        f"  watchers' feeds answered: {watched['answers']}; held at the start: "
        f"{watched['held']}; waitress threads {county.options['threads']}, "
        f"connection_limit {county.options['connection_limit']}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=200, help="tablets holding live feeds")
    parser.add_argument("--tablets", type=int, default=20, help="tablets syncing meanwhile")
    parser.add_argument("--tablet-docs", type=int, default=300, help="records each one pushes")
    parser.add_argument("--tablet-pull", type=int, default=100, help="records each one pulls")
    parser.add_argument("--batch", type=int, default=100, help="our replicator's batch_size")
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    parser.add_argument("--feed-slots", type=int, default=400, help="FEED_SLOTS")
    parser.add_argument("--hold", type=float, default=20, help="LONGPOLL_SECONDS (a feed's wait)")
    parser.add_argument("--backends", default="embedded", help="embedded, couchdb or both")
    parser.add_argument(
        "--watch-elsewhere",
        action="store_true",
        help="watchers only in villages where no tablet syncs (feeds never woken)",
    )
    opts = parser.parse_args(argv)
    if opts.tablets > len(villages()):
        raise SystemExit(f"--tablets: at most {len(villages())} (one village each)")
    lines = [
        f"`bench/bench_feeds.py {' '.join(argv if argv is not None else sys.argv[1:])}`: "
        f"{opts.tablets} tablets push {opts.tablet_docs} and pull {opts.tablet_pull} records "
        f"each; waitress --threads {opts.threads}, FEED_SLOTS {opts.feed_slots}, "
        f"LONGPOLL_SECONDS {opts.hold:g}; sync times in seconds",
        "",
        "| backend | run | p50 | p95 | max | wall | sync errors | feed errors "
        "| feeds held | worst /health |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        for backend in [b.strip() for b in opts.backends.split(",") if b.strip()]:
            couch_url = None
            if backend == "couchdb":
                from support.peer_server import running_pouchdb_server

                couch_url = stack.enter_context(running_pouchdb_server(workdir / "pouchdb"))
            elif backend != "embedded":
                raise SystemExit(f"--backends: embedded or couchdb, not {backend}")
            lines += run_backend(workdir, couch_url, opts)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
