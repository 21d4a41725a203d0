"""Measure a station evening (tablets -> hub -> county) and print a Markdown table.

    .venv/bin/python bench/bench_station.py            # 20 tablets x 36 records, photos
    .venv/bin/python bench/bench_station.py --quick    # 4 tablets x 12 records: a smoke run

The evening of one station (翔凤镇白岩村, 422827100001, of server/demo_county.py): --tablets
volunteers come back with a day's work each and sync with the station's hub at the same
time; then the county is in reach and the hub forwards the station's work to it. All of
it on 127.0.0.1, in a temporary directory removed at the end.

The parts, all the real code:

- The county: the real app (server/app.py create_app) over its embedded store, under
  waitress with `fieldsync serve`'s options (server.gateway.feeds.waitress_options,
  --threads workers), in a thread of this process. It holds the county's places, teams
  and stations (server/demo_county.py, users left out), the station lead's account and
  one volunteer account per tablet, each with its `user:` roster document.
- The hub: a data directory prepared here in the morning, in coverage (create_app over
  it, then one round of the hub's link, server/hub/upstream.py Upstream.run_once with
  the station's accounts mirrored, as `fieldsync hub` runs it: the station's places,
  roster and accounts come down), then served by `fieldsync serve --data-dir HUB
  --port 0` in a process of its own (the county out of reach meanwhile: the hub's link
  is not running). Its RSS is read from /proc/PID/status: VmHWM is its peak since it
  started, VmRSS is sampled every 0.2 s. Its JSON request log (its stderr, to a file)
  gives the notes: server time per endpoint in each phase, and how many requests were
  in the app at once (on average, and at most from their start and end times).
- The tablets: --tablets threads of this process, each a SqliteStore (sync/sqlite_store.py)
  holding its volunteer's day: --records records (a household, a home visit to it, a
  patrol, in turn; every --photo-every-th home visit with one photo, a JPEG-like
  attachment of 150-200 KB of incompressible bytes, as the app stores a scaled photo),
  recorded by the volunteer (author, participants), all valid under schemas/. Each
  tablet replicates with the hub by our replicator (sync/replicator.py) through a
  CouchStore on the hub's /db as its volunteer, with the tablet app's batch sizes
  (field_client/web/js/sync.js: 10 while photos wait, 100 for the pull).

Phases, each timed (wall clock; CPU seconds of the hub process and of this one):

1. Prepare (reported, not part of the evening): the county, its accounts, the hub's
   morning round, the tablets' records.
2. Push: all tablets start together (a barrier) and push their day to the hub.
   p50/p95/max of the per-tablet time, the wall time of the whole phase.
3. Pull: then all tablets start together again and pull what the hub holds in their
   scope that they lack (the station's reference data and their colleagues' records,
   photos included: every volunteer of the demo is scoped to the village).
4. Forward: the hub process is stopped (SIGTERM, as Ctrl-C), and one round of the
   hub's link (Upstream.run_once, built as server/commands/hub.py start_link builds
   it: a push of the station's work, i.e. what the hub's gateway accepted since its
   last good round, server/hub/station_work.py; a pull of the county's answers; the
   accounts mirror) runs over the hub's data directory in a child process of its own,
   so its peak RSS (VmHWM) is its own. In production the link runs inside the hub process;
   here serving and forwarding run in two processes one after the other, so the two
   peaks are reported apart. The child reaches the county through a byte-counting TCP
   relay on 127.0.0.1: the bytes on the wire are the TCP payload both ways (HTTP
   request and response heads and bodies, gzip as sent), compared with the gzipped
   size of what was moved: gzip -6 of the forwarded documents as stored (with _rev,
   without their attachments) as one compact JSON array, plus gzip -6 of the photos'
   bytes. Target <= 1.25x. The county's own count of request and response bodies per
   endpoint is in the notes.
5. County check: every tablet's document on the county exactly once (its revision,
   no conflict), with its author and its photo (digest and bytes), nothing else by the
   volunteers, nothing in the county's quarantine.

Errors (target 0): a tablet's sync that raised, a document refused or a count that
differs, a request retried by a client (a dropped connection or a 5xx), an HTTP error
answer logged by the hub or the county (any status >= 400 but the 404s of checkpoint
look-ups, GET .../_local/...), a forward round that failed or left a document refused,
and every mismatch of the county check. It measures and never fails on a miss (exit
status 0). Progress goes to stderr."""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import logging
import os
import platform
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from random import Random
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Runnable as a plain script from a checkout, installed or not.
sys.path.insert(0, str(ROOT))

import measure  # noqa: E402  (bench/measure.py, beside this script)
import requests  # noqa: E402
from waitress import create_server, wasyncore  # noqa: E402

from server.accounts.roster import enrol  # noqa: E402
from server.app import create_app  # noqa: E402
from server.demo_county import DemoCounty, Village, recorded_by, villages  # noqa: E402
from server.gateway.feeds import waitress_options  # noqa: E402
from server.hub.accounts import accounts_url  # noqa: E402
from server.hub.station_work import to_send  # noqa: E402
from server.hub.upstream import Upstream  # noqa: E402
from server.services import services  # noqa: E402
from sync.couch_store import CouchStore  # noqa: E402
from sync.http_client import basic_auth  # noqa: E402
from sync.open import open_store  # noqa: E402
from sync.replicator import ReplicationResult, replicate  # noqa: E402
from sync.sqlite_store import SqliteStore  # noqa: E402

TARGET_ERRORS = 0
TARGET_WIRE_RATIO = 1.25  # forward bytes on the wire / gzip of the documents and photos moved
PASSWORD = "bench-站点-2024"
LEAD = "zhanzhang"  # the station lead, whose account the hub's link uses
PUSH_BATCH = 10  # the tablet app's PHOTO_PUSH_BATCH (field_client/web/js/sync.js)
PULL_BATCH = 100  # the tablet app's PULL_BATCH
PHOTO_BYTES = (150_000, 200_000)  # a scaled photo: photos.js aims at about 200 KB
HTTP_TIMEOUT = (10.0, 300.0)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
RSS_SAMPLE_SECONDS = 0.2
FIELD_MIX = ("household", "home_visit", "patrol")
FIELDSYNC = Path(sys.executable).with_name("fieldsync")  # the venv's console script


def _log(message: str) -> None:
    print(f"[bench_station] {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _mb(n: float) -> str:
    return f"{n / 1e6:,.2f} MB"


def _endpoint(method: str, path: str) -> str:
    """`POST /db/_bulk_docs`, `GET /db/_local`, `GET /db/(doc)`, `GET /accounts/_all_docs`."""
    parts = path.strip("/").split("/")
    head = parts[0] if parts and parts[0] else "(root)"
    if len(parts) < 2 or not parts[1]:
        return f"{method} /{head}"
    rest = parts[1] if parts[1].startswith("_") else "(doc)"
    return f"{method} /{head}/{rest}"


def _is_error(method: str, path: str, status: int) -> bool:
    """An HTTP error answer, but the 404 of a checkpoint not written yet."""
    if status < 400:
        return False
    return not (status == 404 and method == "GET" and "/_local/" in path)


def _clean_env() -> dict[str, str]:
    """This environment without FIELDSYNC_* settings, so the machine's county settings
    never reach the hub (the directories given are the only configuration)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB, and its Threads ({} once it is gone)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:", "Threads:")):
                    key, value = line.split(":", 1)
                    found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


# -- the documents of the evening -------------------------------------------------------------


def photo(rng: Random, size: int) -> bytes:
    """JPEG-like bytes: the markers of a JPEG around incompressible data (a real JPEG's
    entropy-coded data compresses by 1-2% at most)."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + rng.randbytes(size - len(head) - 2) + b"\xff\xd9"


@dataclass
class Day:
    """One volunteer's day on their tablet."""

    username: str
    docs: list[dict]  # as saved, photos inline (base64)
    photos: dict[str, bytes]  # doc id -> the photo's bytes
    path: Path
    store: SqliteStore | None = None
    revs: dict[str, str] = field(default_factory=dict)  # doc id -> rev, once saved

    @property
    def photo_bytes(self) -> int:
        return sum(len(p) for p in self.photos.values())


def tablet_day(
    seed: int, village: Village, username: str, records: int, photo_every: int, path: Path
) -> Day:
    """`records` valid records of `village` by `username`: a household, a visit to it and a
    patrol in turn; every `photo_every`-th visit with one photo."""
    county, rng = DemoCounty(seed), Random(seed)
    docs: list[dict] = []
    household_id = ""
    visits = 0
    wants_photo: set[str] = set()
    while len(docs) < records:
        kind = FIELD_MIX[len(docs) % len(FIELD_MIX)]
        if kind == "household":
            doc = county.household(village)
            household_id = doc["_id"]
        elif kind == "home_visit":
            doc = county.home_visit(village, household_id)
            visits += 1
            if photo_every and visits % photo_every == 0:
                wants_photo.add(doc["_id"])
        else:
            doc = county.patrol(village)
        doc["device"] = f"tablet-{username}"
        docs.append(doc)
    docs = recorded_by(docs, username)
    photos = {}
    for doc in docs:
        if doc["_id"] in wants_photo:
            data = photo(rng, rng.randint(*PHOTO_BYTES))
            photos[doc["_id"]] = data
            doc["_attachments"] = {
                "photo-1.jpg": {
                    "content_type": "image/jpeg",
                    "data": base64.b64encode(data).decode("ascii"),
                }
            }
    return Day(username, docs, photos, path)


def station_reference() -> list[dict]:
    """What the county holds before the evening: every place, team and station of the
    demo county (the hub's link brings down the station's share)."""
    return [d for d in DemoCounty(0).reference() if d["type"] in ("place", "team", "station")]


def moved_reference(days: list[Day]) -> tuple[int, int, int]:
    """(gzip -6 of the documents as stored, as one JSON array, without attachments;
    gzip -6 of the photos' bytes; their sum): the gzipped size of what the forward moves."""
    docs = []
    for day in days:
        for doc in day.docs:
            stored = {k: v for k, v in doc.items() if k != "_attachments"}
            stored["_rev"] = day.revs[doc["_id"]]
            docs.append(stored)
    text = json.dumps(docs, ensure_ascii=False, separators=(",", ":")).encode()
    docs_gz = len(gzip.compress(text, compresslevel=6))
    photos_gz = len(
        gzip.compress(b"".join(p for day in days for p in day.photos.values()), compresslevel=6)
    )
    return docs_gz, photos_gz, docs_gz + photos_gz


# -- counting bytes ---------------------------------------------------------------------------


class WireCounter:
    """A TCP relay on 127.0.0.1 to `port`, counting the bytes it carries each way."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.up = self.down = self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="wire-counter", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            server = socket.create_connection(("127.0.0.1", self.target))
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._sockets += [client, server]
            for src, dst, up in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, up), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
                with self._lock:
                    if up:
                        self.up += len(data)
                    else:
                        self.down += len(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=STOP_TIMEOUT)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@dataclass
class Traffic:
    requests: int = 0
    up: int = 0  # request bodies as received (Content-Length: gzip as sent)
    down: int = 0  # response bodies as sent
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    refused_up: int = 0  # request bodies answered with an HTTP error


class CountingApp:
    """WSGI middleware: request and response body bytes and statuses per endpoint."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self._lock = threading.Lock()
        self.totals: dict[str, Traffic] = defaultdict(Traffic)
        self.errors: list[str] = []

    def __call__(self, environ: dict, start_response: Callable) -> Iterator[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        key = _endpoint(method, path)
        up = int(environ.get("CONTENT_LENGTH") or 0)
        answer: dict[str, int] = {}
        started = time.perf_counter()

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            answer["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        result = self.app(environ, start)

        def body() -> Iterator[bytes]:
            sent = 0
            try:
                for chunk in result:
                    sent += len(chunk)
                    yield chunk
            finally:
                if hasattr(result, "close"):
                    result.close()
                status = answer.get("status", 0)
                with self._lock:
                    total = self.totals[key]
                    total.requests += 1
                    total.up += up
                    total.down += sent
                    total.seconds += time.perf_counter() - started
                    total.statuses[status] += 1
                    if _is_error(method, path, status):
                        self.errors.append(
                            f"county: {method} {path[:80]} answered {status} "
                            f"({_mb(up)} request body, sent whole)"
                        )
                        total.refused_up += up

        return body()

    def take(self) -> tuple[dict[str, Traffic], list[str]]:
        with self._lock:
            totals, errors = dict(self.totals), self.errors
            self.totals, self.errors = defaultdict(Traffic), []
        return totals, errors


def describe_traffic(totals: dict[str, Traffic]) -> str:
    parts = []
    for key, t in sorted(totals.items(), key=lambda kv: -(kv[1].up + kv[1].down)):
        statuses = ", ".join(f"{n} x {code}" for code, n in sorted(t.statuses.items()))
        parts.append(
            f"{key}: {t.requests} req ({statuses}), up {_mb(t.up)}, down {_mb(t.down)}, "
            f"{t.seconds:.2f} s"
        )
    return "; ".join(parts)


# -- the county -------------------------------------------------------------------------------


class County:
    """The county server over its embedded store, under waitress in a thread of this
    process, with the options `fieldsync serve` gives it."""

    def __init__(self, data_dir: Path, threads: int) -> None:
        self.app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "bench-county"})
        self.app.extensions["fieldsync.log"] = _NullLog()  # counted by CountingApp instead
        self.counting = CountingApp(self.app)
        options = waitress_options(self.app.config, threads)
        self.server = create_server(
            self.counting, host="127.0.0.1", port=0, ident="fieldsync-bench", **options
        )
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.run, name="county", daemon=True)
        self._thread.start()

    @property
    def store(self) -> Any:
        return self.app.extensions["fieldsync"].store

    def add_user(self, username: str, role: str, scope: str) -> None:
        """A roster entry and account, as `fieldsync admin create-user` makes them."""
        village = scope[:12]
        with self.app.app_context():
            enrol(self.store, services().users, username, PASSWORD, role, scope,
                  display_name=username, team=f"team:{village}",
                  station=f"station:{village}")  # fmt: skip

    def quarantined(self) -> int:
        with self.app.app_context(), services().db.read() as conn:
            return conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]

    def close(self) -> None:
        # Close every channel from the loop's own thread; the loop ends once its map is empty.
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self._thread.join(timeout=STOP_TIMEOUT)
        self.server.task_dispatcher.shutdown(timeout=STOP_TIMEOUT)
        self.app.extensions["fieldsync"].close()


class _NullLog:
    def write(self, record: dict) -> None:
        pass


def hub_link(hub_app: Any, county_db: str, on_retry: Callable | None = None) -> Upstream:
    """The hub's link with the county as server/commands/hub.py start_link builds it."""
    found = hub_app.extensions["fieldsync"]

    def opened(url: str, create: bool) -> Any:
        store = open_store(url, create=create, username=LEAD, password=PASSWORD)
        if on_retry is not None:
            store.http.on_retry = on_retry
        return store

    return Upstream(
        found.store,
        lambda: opened(county_db, True),
        accounts=(found.accounts, lambda: opened(accounts_url(county_db), False)),
        station_work=lambda: to_send(found),
    )


# -- the hub process --------------------------------------------------------------------------


class Hub:
    """`fieldsync serve --data-dir DIR --port 0`, a process of its own, its stderr (the
    app's JSON request log) in a file."""

    def __init__(self, data_dir: Path, log_path: Path, threads: int) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in stop()
        command = [str(FIELDSYNC), "serve", "--data-dir", str(data_dir), "--port", "0"]
        command += ["--threads", str(threads)]
        started = time.perf_counter()
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env=_clean_env(), cwd=str(data_dir.parent),
        )  # fmt: skip
        self.pid = self.process.pid
        self.url = self._wait_for_url()
        self.start_seconds = time.perf_counter() - started
        self.rss_samples: list[int] = []
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="hub-rss", daemon=True)
        self._sampler.start()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            found = re.search(r"Serving 服务地址 (https?://\S+)", text)
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"fieldsync serve ended at once: {text[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("fieldsync serve did not serve within a minute")

    def _sample(self) -> None:
        while not self._sampling.wait(RSS_SAMPLE_SECONDS):
            rss = _proc_status(self.pid).get("VmRSS")
            if rss is not None:
                self.rss_samples.append(rss)

    def status(self) -> dict[str, int]:
        return _proc_status(self.pid)

    def cpu(self) -> float:
        return measure.cpu_seconds(self.pid) or 0.0

    def gateway(self, username: str) -> CouchStore:
        return CouchStore(
            f"{self.url}/db", username=username, password=PASSWORD, timeout=HTTP_TIMEOUT
        )

    def scope_count(self, username: str) -> int:
        headers = {"Authorization": basic_auth(username, PASSWORD)}
        answer = requests.get(f"{self.url}/db", headers=headers, timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        return int(answer.json()["doc_count"])

    def stop(self) -> int:
        self._sampling.set()
        self._sampler.join(timeout=STOP_TIMEOUT)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self._log.close()
        return self.process.returncode

    def requests_logged(self) -> list[dict]:
        records = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if record.get("event") == "request":
                        records.append(record)
        return records


def _logged_at(record: dict) -> float:
    """The wall-clock time a request's log line was written (its end)."""
    return datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00")).timestamp()


def summarise_hub_log(records: list[dict], began: float, ended: float) -> tuple[str, list[str]]:
    """The requests that ended between `began` and `ended` (wall clock): server time and
    statuses per endpoint, how many were in the app at once (on average: the sum of their
    durations over the wall time; at most: from their start and end times), and the HTTP
    error answers."""
    totals: dict[str, Traffic] = defaultdict(Traffic)
    errors = []
    edges: list[tuple[float, int]] = []
    for r in records:
        end = _logged_at(r)
        if not began <= end <= ended:
            continue
        method, path, status = str(r["method"]), str(r["path"]), int(r.get("status") or 0)
        seconds = float(r.get("duration_ms") or 0) / 1000
        total = totals[_endpoint(method, path)]
        total.requests += 1
        total.seconds += seconds
        total.statuses[status] += 1
        edges += [(end - seconds, 1), (end, -1)]
        if _is_error(method, path, status):
            errors.append(f"hub: {method} {path[:80]} answered {status} to {r.get('user')}")
    at_once = most = 0
    for _, step in sorted(edges):
        at_once += step
        most = max(most, at_once)
    spent = sum(t.seconds for t in totals.values())
    parts = []
    for key, t in sorted(totals.items(), key=lambda kv: -kv[1].seconds):
        statuses = ", ".join(f"{n} x {code}" for code, n in sorted(t.statuses.items()))
        parts.append(f"{key} {t.seconds:.2f} s/{t.requests} req ({statuses})")
    wall = max(ended - began, 1e-9)
    head = (
        f"server time {spent:.1f} s in {wall:.1f} s wall: {spent / wall:.1f} requests in the "
        f"app at once on average, {most} at most; "
    )
    return head + "; ".join(parts), errors


# -- the forward, in a process of its own -----------------------------------------------------


def forward_main(spec: dict) -> int:
    """One round of the hub's link over the hub's data directory, as `fieldsync hub` runs
    it (the configuration `fieldsync serve --data-dir` reads), printed as JSON."""
    from server.commands.county import existing_county

    app = create_app(existing_county(Path(spec["hub_dir"])))
    retries: list[str] = []
    link = hub_link(app, spec["county_db"], lambda what, n, problem: retries.append(what))
    rss_before = _proc_status(os.getpid()).get("VmRSS", 0)
    cpu, start = time.process_time(), time.perf_counter()
    done = link.run_once()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    status = _proc_status(os.getpid())
    app.extensions["fieldsync"].close()
    answer = {
        "seconds": seconds,
        "cpu": cpu,
        "ok": done.ok,
        "error": done.error,
        "sent": done.sent,
        "received": done.received,
        "accounts": done.accounts,
        "refused": [str(r)[:200] for r in done.refused[:3]],
        "refused_count": len(done.refused),
        "retries": retries,
        "rss_before_kb": rss_before,
        "peak_kb": status.get("VmHWM", 0),
    }
    json.dump(answer, sys.stdout)
    return 0


def run_forward(hub_dir: Path, county_db: str, log_path: Path) -> dict:
    spec = {"hub_dir": str(hub_dir), "county_db": county_db}
    with open(log_path, "wb") as log:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--forward", json.dumps(spec)],
            stdout=subprocess.PIPE, stderr=log, env=_clean_env(), timeout=3600, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"the forward process failed ({done.returncode}): {tail}")
    return json.loads(done.stdout)


# -- the evening ------------------------------------------------------------------------------


@dataclass
class Options:
    tablets: int
    records: int
    photo_every: int
    threads: int
    seed: int


@dataclass
class Report:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def row(self, metric: str, value: str, target: str = "", judged: str = "") -> None:
        self.rows.append((metric, value, target, judged))


def _checked(result: ReplicationResult, expect: int, what: str) -> None:
    if not result.ok or result.docs_written != expect:
        raise RuntimeError(
            f"{what}: wrote {result.docs_written} of {expect}, "
            f"{result.doc_write_failures} refused, e.g. {result.failures[:2]}"
        )


def _all_at_once(
    days: list[Day], action: Callable[[Day], tuple[ReplicationResult | None, str | None]]
) -> tuple[list[float], list[str], float]:
    """`action` for every tablet in threads started together: per-tablet seconds, the
    errors, the phase's wall time."""
    barrier = threading.Barrier(len(days) + 1)
    times: list[float] = [0.0] * len(days)
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        barrier.wait(timeout=STOP_TIMEOUT)
        start = time.perf_counter()
        try:
            _, error = action(days[i])
        except Exception as exc:  # counted and reported, not fatal
            error = f"{days[i].username}: {exc!r}"[:300]
        times[i] = time.perf_counter() - start
        if error:
            with lock:
                errors.append(error)

    threads = [
        threading.Thread(target=one, args=(i,), name=f"tablet-{i}") for i in range(len(days))
    ]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=STOP_TIMEOUT)
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return times, errors, time.perf_counter() - start


def _spread(times: list[float]) -> str:
    return (
        f"{measure.percentile(times, 0.5):.2f} s / {measure.percentile(times, 0.95):.2f} s "
        f"(max {max(times):.2f} s)"
    )


def evening(opts: Options, workdir: Path, report: Report) -> None:
    village = villages()[0]
    names = [f"zhiyuan{i + 1:02d}" for i in range(opts.tablets)]
    retries: list[str] = []

    def retried(what: str, attempt: int, problem: str) -> None:
        retries.append(f"client retry: {what} (try {attempt}: {problem[:120]})")

    # -- 1. prepare ---------------------------------------------------------------------------
    began = time.perf_counter()
    county = County(workdir / "county", opts.threads)
    proxy: WireCounter | None = None
    hub: Hub | None = None
    days: list[Day] = []
    try:
        rows = county.store.bulk_docs(station_reference())
        if not all(r.get("ok") for r in rows):
            raise RuntimeError("the county's reference data was refused")
        county.add_user(LEAD, "station_lead", village.code)
        for name in names:
            county.add_user(name, "volunteer", village.code)
        county_setup = time.perf_counter() - began

        hub_dir = workdir / "hub"
        start = time.perf_counter()
        hub_app = create_app({"DATA_DIR": str(hub_dir), "SECRET_KEY": "bench-hub"})
        hub_app.extensions["fieldsync.log"] = _NullLog()
        morning = hub_link(hub_app, f"{county.url}/db", retried).run_once()
        hub_docs = hub_app.extensions["fieldsync"].store.info()["doc_count"]
        hub_app.extensions["fieldsync"].close()
        morning_seconds = time.perf_counter() - start
        if not morning.ok or morning.accounts != opts.tablets + 1:
            raise RuntimeError(f"the hub's morning round: {morning}")

        start = time.perf_counter()
        for i, name in enumerate(names):
            day = tablet_day(
                opts.seed + 1000 + i,
                village,
                name,
                opts.records,
                opts.photo_every,
                workdir / f"tablet-{i:02d}.sqlite",
            )
            day.store = SqliteStore(day.path)
            for row in day.store.bulk_docs(day.docs):
                if not row.get("ok"):
                    raise RuntimeError(f"{name}'s tablet refused its own record: {row}")
                day.revs[row["id"]] = row["rev"]
            days.append(day)
        tablets_seconds = time.perf_counter() - start
        total_docs = sum(len(d.docs) for d in days)
        total_photos = sum(len(d.photos) for d in days)
        photo_bytes = sum(d.photo_bytes for d in days)
        report.row(
            "1. prepare (not timed as the evening): county, accounts, hub's morning round, tablets",
            f"county {county_setup:.1f} s ({opts.tablets + 1} accounts, scrypt); hub's morning "
            f"round {morning_seconds:.1f} s ({morning.received} docs and {morning.accounts} "
            f"accounts down); {opts.tablets} tablets' records {tablets_seconds:.1f} s",
        )
        report.row(
            "the evening's work",
            f"{opts.tablets} tablets x {opts.records} records = {total_docs:,} records, "
            f"{total_photos} photos ({_mb(photo_bytes)}, "
            f"{photo_bytes / max(1, total_photos) / 1000:,.0f} KB each)",
        )

        hub = Hub(hub_dir, workdir / "hub.log", opts.threads)
        idle = hub.status()
        report.notes.append(
            f"hub process: `fieldsync serve --threads {opts.threads}` started in "
            f"{hub.start_seconds:.1f} s, RSS {idle.get('VmRSS', 0) / 1024:.0f} MB idle "
            f"({hub_docs} documents from the morning)"
        )

        # -- 2. push ---------------------------------------------------------------------------
        def push(day: Day) -> tuple[ReplicationResult, str | None]:
            assert day.store is not None
            with hub.gateway(day.username) as gateway:
                gateway.http.on_retry = retried
                result = replicate(day.store, gateway, batch_size=PUSH_BATCH)
            _checked(result, len(day.docs), f"{day.username} push")
            return result, None

        _log(f"push: {opts.tablets} tablets x {opts.records} records to the hub")
        cpu0, hub_cpu0, push_began = time.process_time(), hub.cpu(), time.time()
        times, errors, wall = _all_at_once(days, push)
        cpu1, hub_cpu1, push_ended = time.process_time(), hub.cpu(), time.time()
        after_push = hub.status()
        report.errors += errors
        report.row(
            f"2. push: {opts.tablets} tablets at once to the hub, per tablet p50 / p95",
            f"{_spread(times)}; all done in {wall:.2f} s = {total_docs / wall:,.0f} records/s, "
            f"{photo_bytes / wall / 1e6:.1f} MB/s of photos (hub CPU {hub_cpu1 - hub_cpu0:.1f} "
            f"s, tablets' process CPU {cpu1 - cpu0:.1f} s)",
        )

        # -- 3. pull ---------------------------------------------------------------------------
        scope = hub.scope_count(names[0])
        pulled_photos = total_photos - len(days[0].photos)  # the colleagues' photos

        def pull(day: Day) -> tuple[ReplicationResult, str | None]:
            assert day.store is not None
            with hub.gateway(day.username) as gateway:
                gateway.http.on_retry = retried
                result = replicate(gateway, day.store, batch_size=PULL_BATCH)
            _checked(result, scope - len(day.docs), f"{day.username} pull")
            held = day.store.info()["doc_count"]
            if held != scope:
                return result, f"{day.username}: holds {held} documents, its scope {scope}"
            return result, None

        _log(f"pull: {opts.tablets} tablets from the hub ({scope} documents in scope)")
        pulled_each = scope - opts.records
        cpu0, hub_cpu0, pull_began = time.process_time(), hub.cpu(), time.time()
        times, errors, wall = _all_at_once(days, pull)
        cpu1, hub_cpu1, pull_ended = time.process_time(), hub.cpu(), time.time()
        report.errors += errors
        report.row(
            f"3. pull: {opts.tablets} tablets at once from the hub, per tablet p50 / p95",
            f"{_spread(times)}; all done in {wall:.2f} s; each received {pulled_each} "
            f"documents (its colleagues' records with their {pulled_photos} photos, the station's "
            f"places and roster) (hub CPU {hub_cpu1 - hub_cpu0:.1f} s, tablets' process CPU "
            f"{cpu1 - cpu0:.1f} s)",
        )

        peak = hub.status()
        sampled = max(hub.rss_samples, default=0)
        code = hub.stop()
        logged = hub.requests_logged()
        push_summary, _ = summarise_hub_log(logged, push_began, push_ended)
        pull_summary, _ = summarise_hub_log(logged, pull_began, pull_ended)
        _, all_errors = summarise_hub_log(logged, 0.0, time.time())
        report.errors += all_errors
        report.row(
            "hub process peak RSS (VmHWM, start to end of the evening)",
            f"{peak.get('VmHWM', 0) / 1024:,.0f} MB (idle at start "
            f"{idle.get('VmRSS', 0) / 1024:,.0f} MB, after the push "
            f"{after_push.get('VmRSS', 0) / 1024:,.0f} MB, largest 0.2 s sample "
            f"{sampled / 1024:,.0f} MB)",
        )
        report.notes.append(
            f"hub process: {peak.get('Threads', 0)} threads (waitress: --threads "
            f"{opts.threads} workers + FEED_SLOTS feed threads, server.gateway.feeds."
            "waitress_options)"
        )
        report.notes.append(f"hub during the push (its request log): {push_summary}")
        report.notes.append(f"hub during the pull (its request log): {pull_summary}")
        if code not in (0, -signal.SIGTERM):
            report.errors.append(f"hub: fieldsync serve exited with {code}")

        # -- 4. forward ------------------------------------------------------------------------
        proxy = WireCounter(county.port)
        county.counting.take()
        docs_gz, photos_gz, reference = moved_reference(days)
        _log("forward: the hub's link, one round with the county (a child process)")
        county_db = f"http://127.0.0.1:{proxy.port}/db"
        cpu0 = time.process_time()
        fwd = run_forward(hub_dir, county_db, workdir / "forward.log")
        county_cpu = time.process_time() - cpu0
        time.sleep(0.2)  # the relay's last reads
        traffic, county_errors = county.counting.take()
        wire = proxy.up + proxy.down
        report.errors += county_errors
        report.errors += [f"forward client retry: {what}" for what in fwd["retries"]]
        if not fwd["ok"]:
            report.errors.append(f"forward round failed: {fwd['error']}")
        if fwd["refused_count"]:
            report.errors.append(f"forward: {fwd['refused_count']} refused, {fwd['refused']}")
        if fwd["sent"] != total_docs:
            report.errors.append(f"forward sent {fwd['sent']} documents, not {total_docs}")
        report.row(
            "4. forward: the hub's link, one round (push, pull, accounts)",
            f"{fwd['seconds']:.2f} s: {fwd['sent']:,} sent, {fwd['received']} received, "
            f"{fwd['accounts']} accounts changed (link CPU {fwd['cpu']:.1f} s, county "
            f"process CPU {county_cpu:.1f} s)",
        )
        ratio = wire / reference
        report.row(
            "forward: bytes on the wire (up + down, HTTP heads and bodies) / gzip of the "
            "documents and photos moved",
            f"{_mb(wire)} (up {_mb(proxy.up)}, down {_mb(proxy.down)}, {proxy.connections} "
            f"connections, {sum(t.requests for t in traffic.values())} requests) / "
            f"{_mb(reference)} (documents {docs_gz / 1000:,.0f} KB + photos "
            f"{_mb(photos_gz)}) = {ratio:.2f}x",
            f"<= {TARGET_WIRE_RATIO:g}x",
            verdict(ratio <= TARGET_WIRE_RATIO),
        )
        report.row(
            "forward process peak RSS (VmHWM)",
            f"{fwd['peak_kb'] / 1024:,.0f} MB ({fwd['rss_before_kb'] / 1024:,.0f} MB before "
            f"the round, the app opened)",
        )
        refused_up = sum(t.refused_up for t in traffic.values())
        if refused_up:
            report.notes.append(
                f"forward: {_mb(refused_up)} of the bytes up were request bodies the county "
                f"answered with an error (and the client sent again in smaller requests); "
                f"without them the round would be {_mb(wire - refused_up)} = "
                f"{(wire - refused_up) / reference:.2f}x"
            )
        report.notes.append(f"county, forward, per endpoint: {describe_traffic(traffic)}")

        # -- 5. county check -------------------------------------------------------------------
        start = time.perf_counter()
        mismatches = check_county(county, days)
        quarantined = county.quarantined()
        if quarantined:
            mismatches.append(f"county: {quarantined} documents in the quarantine")
        report.errors += mismatches
        report.row(
            "5. county: every record exactly once, its revision, author and photo",
            f"{total_docs - len([m for m in mismatches if m.startswith('doc ')]):,} of "
            f"{total_docs:,} ({len(mismatches)} mismatches, {quarantined} quarantined; "
            f"checked in {time.perf_counter() - start:.1f} s)",
        )
    finally:
        if hub is not None and hub.process.poll() is None:
            hub.stop()
        if proxy is not None:
            proxy.close()
        county.close()
        for day in days:
            if day.store is not None:
                day.store.close()
    report.errors += retries
    report.row(
        "errors: syncs that raised, refused documents, counts that differ, retries, HTTP "
        "error answers, county mismatches",
        f"{len(report.errors)}",
        f"{TARGET_ERRORS}",
        verdict(len(report.errors) == TARGET_ERRORS),
    )


def check_county(county: County, days: list[Day]) -> list[str]:
    """Mismatches: every tablet record on the county once, at its revision, no conflict,
    its author, its photo (digest and bytes); nothing else recorded by the volunteers."""
    found = []
    store = county.store
    for day in days:
        assert day.store is not None
        for doc in day.docs:
            doc_id = doc["_id"]
            try:
                held = store.get(doc_id, conflicts=True)
            except Exception as exc:  # noqa: BLE001 - a missing record is a mismatch
                found.append(f"doc {doc_id}: missing at the county ({exc!r})"[:200])
                continue
            problems = []
            if held["_rev"] != day.revs[doc_id]:
                problems.append(f"rev {held['_rev']} != {day.revs[doc_id]}")
            if held.get("_conflicts"):
                problems.append(f"conflicts {held['_conflicts']}")
            if held.get("author") != f"user:{day.username}":
                problems.append(f"author {held.get('author')}")
            mine = day.store.get(doc_id).get("_attachments", {})
            theirs = held.get("_attachments", {})
            if {k: v.get("digest") for k, v in mine.items()} != {
                k: v.get("digest") for k, v in theirs.items()
            }:
                problems.append("photo differs")
            elif doc_id in day.photos:
                data = store.get_attachment(doc_id, "photo-1.jpg").data
                if data != day.photos[doc_id]:
                    problems.append(f"photo's bytes differ ({len(data)} bytes held)")
            if problems:
                found.append(f"doc {doc_id}: {', '.join(problems)}"[:200])
    authors = {f"user:{day.username}" for day in days}
    expected = sum(len(day.docs) for day in days)
    by_them = sum(
        1
        for row in store.all_docs(include_docs=True)
        if row["doc"].get("author") in authors and not row["id"].startswith("user:")
    )
    if by_them != expected:
        found.append(f"county: {by_them} documents by the volunteers, {expected} expected")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 tablets x 12 records: a smoke run")
    parser.add_argument("--tablets", type=int, default=None, help="tablets syncing at once (20)")
    parser.add_argument("--records", type=int, default=None, help="records per tablet (36)")
    parser.add_argument(
        "--photo-every", type=int, default=2, help="every Nth home visit has a photo (0: none)"
    )
    parser.add_argument("--threads", type=int, default=8, help="waitress workers, hub and county")
    parser.add_argument("--seed", type=int, default=0, help="demo data seed")
    parser.add_argument("--dir", type=Path, default=None, help="where the temp dir goes")
    parser.add_argument("--forward", help=argparse.SUPPRESS)  # JSON spec: the forward's child
    args = parser.parse_args(argv)
    if args.forward:
        return forward_main(json.loads(args.forward))
    tablets = args.tablets or (4 if args.quick else 20)
    records = args.records or (12 if args.quick else 36)
    if min(tablets, records) < 1 or args.photo_every < 0:
        parser.error("sizes must be at least 1")
    if not FIELDSYNC.exists():
        parser.error(f"{FIELDSYNC} is missing: install the project (pip install -e .)")
    opts = Options(tablets, records, args.photo_every, args.threads, args.seed)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # 20 tablets on 8 threads

    report = Report()
    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-station-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        fs = measure.filesystem(workdir.resolve())
        load_before = os.getloadavg()[0]
        began = time.perf_counter()
        try:
            evening(opts, workdir, report)
        except Exception as exc:  # report it: a benchmark prints what it got
            traceback.print_exc()
            report.row("the evening did not complete", f"{exc!r}"[:300], "", "**error**")
        elapsed = time.perf_counter() - began
        load_after = os.getloadavg()[0]

    command = shlex.join(["python", *(sys.argv if argv is None else ["bench_station.py", *argv])])
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {measure.cpu_model()}, nproc {os.cpu_count()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, waitress {_version('waitress')}; hub: `fieldsync "
        f"serve`, its own process; county: waitress in this process; tablets: threads of "
        f"this process; files on {fs}; 1-min load average {load_before:.2f} before, "
        f"{load_after:.2f} after  "
    )
    print(
        f"Data: server/demo_county.py (seed {opts.seed}), station 422827100001; "
        f"{opts.tablets} tablets x {opts.records} records, a photo every "
        f"{opts.photo_every} home visits; total run {elapsed:.0f} s"
    )
    print()
    print("| phase / metric | value | target | |")
    print("|---|---|---|---|")
    for metric, value, target, judged in report.rows:
        print(f"| {metric} | {value} | {target} | {judged} |")
    if report.notes:
        print()
        print("Notes:")
        print()
        for note in report.notes:
            print(f"- {note}")
    if report.errors:
        print()
        print(f"Errors ({len(report.errors)}, the first 10):")
        print()
        for error in report.errors[:10]:
            print(f"- {error}")
    return 0  # it measures; it does not judge


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
