"""Measure replication against a real pouchdb-server, ours next to PouchDB's.

    .venv/bin/python bench/bench_replication.py [--docs 10000] [--incremental-base 100000]
    .venv/bin/python bench/bench_replication.py --docs 1000 --incremental-base 5000 --repeat 1

One in-memory pouchdb-server on 127.0.0.1 (tests/peers), started in a temp dir
and stopped at the end, serves every measurement:

1. Push and pull of --docs home visits: ours (SqliteStore <-> server, our
   replicator at --batch and at --alt-batch) and PouchDB's (memory database
   <-> server, PouchDB in Node at its default batch size and at --batch).
   After an untimed warm-up, --repeat alternating rounds; the best is kept.
2. Incremental sync over a --incremental-base database already in sync: time
   and bytes on the wire (counted by tests/fault_proxy.py, no faults) to pull,
   then push, 10 new documents.
3. Peak RSS of a child Python process replicating the whole base (push, then
   pull into a fresh SqliteStore); these replications also build the base of 2.
4. Bytes on the wire per document for a push of the --docs documents, against
   their gzipped JSON.
5. What a county's IT would compare: a --couchdb-docs copy (valid field records
   of server/demo_county.py) between two databases of one Apache CouchDB 3.5 node
   (../shared/couchdb, started as the tests start it), once by our replicator (two
   CouchStores) and once by CouchDB's own one-shot ``POST /_replicate``, in
   alternating rounds after a warm-up: both times and the ratio. Skipped, with a
   notice, where CouchDB is not installed (or with --skip-couchdb).

Prints one Markdown table (metric / value / target / verdict), the command and
the machine, then notes on where the bytes went. Progress goes to stderr. It
measures and never fails on a miss (exit status 0)."""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Runnable as a plain script from a checkout, installed or not.
sys.path.insert(0, str(ROOT))

import measure  # noqa: E402  (bench/measure.py, beside this script)

from sync.couch_store import CouchStore  # noqa: E402
from sync.replicator import ReplicationResult, replicate  # noqa: E402
from sync.sqlite_store import SqliteStore  # noqa: E402

TARGET_RATIO = 1.5  # ours / PouchDB's docs/s
TARGET_INCR_SECONDS = 0.5
TARGET_INCR_BYTES = 30 * 1024
TARGET_RSS_MB = 150
TARGET_OVERHEAD = 0.25  # wire bytes over per-document gzipped JSON
INCREMENTAL_DOCS = 10
GZIP_LEVEL = 6  # zlib's and the gzip CLI's default: the baseline anyone would reproduce
FILL_BATCH = 1_000  # documents per bulk_docs while pre-filling (not timed)
WARMUP_DOCS = 1_000  # replicated once each way by both sides before any timing


# -- small helpers --------------------------------------------------------------------------


def _compact(doc: Any) -> bytes:
    # Compact UTF-8 JSON (Chinese as 3 bytes, not \uXXXX), as CouchStore sends it.
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _log(message: str) -> None:
    print(f"[bench_replication] {message}", file=sys.stderr, flush=True)


def _fill_sqlite(store: SqliteStore, docs: Iterable[dict]) -> int:
    count = 0
    for batch in measure.batches(docs, FILL_BATCH):
        results = store.bulk_docs(batch)
        assert all(r.get("ok") for r in results), results[:3]
        count += len(batch)
    return count


def _fill_pouch(pouch: Any, db: Any, docs: list[dict]) -> None:
    for batch in measure.batches(docs, FILL_BATCH):
        answers = pouch.bulk_docs(db, batch)
        assert all(a.get("ok") for a in answers), answers[:3]


def _remove_sqlite(path: Path) -> None:
    # Pulled copies are not needed once timed; 10k docs is ~20 MB each.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _endpoint(path: str) -> str:
    """Group a request path by CouchDB endpoint: _bulk_docs, _changes, _local, (db)..."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) < 2:
        return "(db info / create)"
    return parts[1] if parts[1].startswith("_") else "(doc by id)"


# -- timing one replication ---------------------------------------------------------------


@dataclass
class Run:
    """One timed replication: wall time, and CPU seconds of each process taking part."""

    docs: int
    seconds: float
    client_cpu: float | None
    server_cpu: float | None

    @property
    def rate(self) -> float:
        return self.docs / self.seconds

    def describe(self) -> str:
        cpu = []
        if self.client_cpu is not None:
            cpu.append(f"client CPU {self.client_cpu:.1f} s")
        if self.server_cpu is not None:
            cpu.append(f"server CPU {self.server_cpu:.1f} s")
        extra = f"; {', '.join(cpu)}" if cpu else ""
        return f"{self.rate:,.0f} docs/s ({self.seconds:.2f} s wall{extra})"


def _timed_run(
    action: Callable[[], int], server_pid: int | None, client_pid: int | None = None
) -> Run:
    """Run `action` (returns documents written); client CPU is ours unless `client_pid`."""

    def client_cpu() -> float | None:
        return time.process_time() if client_pid is None else measure.cpu_seconds(client_pid)

    c0, s0 = client_cpu(), measure.cpu_seconds(server_pid)
    start = time.perf_counter()
    count = action()
    seconds = time.perf_counter() - start
    c1, s1 = client_cpu(), measure.cpu_seconds(server_pid)
    return Run(
        count,
        seconds,
        None if c0 is None or c1 is None else c1 - c0,
        None if s0 is None or s1 is None else s1 - s0,
    )


def _ours(source: Any, target: Any, batch: int, expect: int) -> Callable[[], int]:
    def action() -> int:
        result: ReplicationResult = replicate(source, target, batch_size=batch)
        assert result.ok and result.docs_written == expect, (result.counters(), result.failures)
        return result.docs_written

    return action


# -- the child process of measurement 3 -------------------------------------------------------


def child_main(spec: dict) -> int:
    """Replicate in this fresh process and print its own peak RSS as JSON.

    Imports are the replicator's only (the parent's test helpers, pytest among
    them, are not loaded), so the peak is what a device's sync process needs.
    """
    baseline = measure.peak_rss_mb()
    sqlite_store = SqliteStore(spec["sqlite"])
    couch = CouchStore(spec["couch"])
    source, target = (sqlite_store, couch) if spec["direction"] == "push" else (couch, sqlite_store)
    start = time.perf_counter()
    result = replicate(source, target, batch_size=spec["batch"])
    seconds = time.perf_counter() - start
    sqlite_store.close()
    couch.close()
    json.dump(
        {
            "baseline_mb": baseline,
            "peak_mb": measure.peak_rss_mb(),
            "seconds": seconds,
            "docs_written": result.docs_written,
            "ok": result.ok,
        },
        sys.stdout,
    )
    return 0


def _run_child(direction: str, sqlite_path: Path, couch_url: str, batch: int) -> dict:
    spec = {"direction": direction, "sqlite": str(sqlite_path), "couch": couch_url, "batch": batch}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {direction} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


# -- the benchmark ----------------------------------------------------------------------------


@dataclass
class Options:
    docs: int
    base: int
    batch: int
    alt_batch: int
    repeat: int
    seed: int
    couchdb_docs: int = 10_000
    skip_couchdb: bool = False
    only_couchdb: bool = False


def _beam_pid(port: int) -> int | None:
    """The CouchDB node we started (its script execs the Erlang VM, beam.smp)."""
    for pid in measure._children(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"beam" in cmdline and f"couchdb-{port}@".encode() in cmdline:
            return pid
    return None


def couchdb_comparison(
    opts: Options, workdir: Path
) -> tuple[list[tuple[str, str, str, str]], list[str], str]:
    """Measurement 5: our replicator against CouchDB's own, between two databases of one
    CouchDB node. Returns table rows, notes and CouchDB's version (or why it was skipped)."""
    import requests
    from support.couchdb import NODE_SCRIPT, couchdb_available, new_database, running_couchdb

    from server.demo_county import DemoCounty

    if opts.skip_couchdb:
        return [], [], "skipped (--skip-couchdb)"
    if not couchdb_available():
        notice = f"Apache CouchDB is not here ({NODE_SCRIPT} is missing): measurement 5 skipped"
        _log(notice)
        return [("ours vs CouchDB's /_replicate", "skipped", "", notice)], [], "absent"
    n = opts.couchdb_docs
    per_village = n // (len(DemoCounty().villages) * 3) + 1  # about 3.2 records per round
    docs = list(itertools.islice(DemoCounty(opts.seed).records(per_village), n))
    assert len(docs) == n, len(docs)
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    with running_couchdb(workdir / "apache-couchdb") as base, requests.Session() as http:
        version = http.get(f"{base}/", timeout=10).json().get("version", "?")
        pid = _beam_pid(int(base.rsplit(":", 1)[1]))

        def filled(count: int) -> str:
            url = new_database(base)
            with CouchStore(url, compress=False) as store:
                for batch in measure.batches(docs[:count], FILL_BATCH):
                    assert all(row.get("ok") for row in store.bulk_docs(batch))
            return url

        def ours(source: str, count: int) -> Callable[[], int]:
            def action() -> int:
                target = new_database(base)
                # compress off: the county server's default for a CouchDB beside it
                with (
                    CouchStore(source, compress=False) as src,
                    CouchStore(target, compress=False) as dst,
                ):
                    result = replicate(src, dst, batch_size=opts.batch)
                assert result.ok and result.docs_written == count, result.counters()
                return result.docs_written

            return action

        def theirs(source: str, count: int) -> Callable[[], int]:
            def action() -> int:
                target = new_database(base)
                answer = http.post(
                    f"{base}/_replicate",
                    json={"source": source, "target": target},
                    timeout=3600,
                )  # one-shot: answers once the replication has finished
                body = answer.json()
                assert answer.status_code == 200 and body.get("ok"), body
                assert http.get(target, timeout=60).json()["doc_count"] == count
                return count

            return action

        _log(f"Apache CouchDB {version}: filling a source database with {n:,} field records")
        source = filled(n)
        warm = filled(min(n, WARMUP_DOCS))
        _log("warm-up: ours and CouchDB's replicator (not timed)")
        ours(warm, min(n, WARMUP_DOCS))()
        theirs(warm, min(n, WARMUP_DOCS))()
        runs: dict[str, list[Run]] = defaultdict(list)
        for round_ in range(1, opts.repeat + 1):
            for who, make in (("ours", ours), ("CouchDB /_replicate", theirs)):
                _log(f"round {round_}/{opts.repeat}: {who}, {n:,} docs between two databases")
                runs[who].append(_timed_run(make(source, n), pid))
    best = {who: max(timings, key=lambda r: r.rate) for who, timings in runs.items()}
    for who, timings in runs.items():
        value = best[who].describe()
        if len(timings) > 1:
            value += f"; every round {', '.join(f'{r.seconds:.2f}' for r in timings)} s"
        rows.append((f"{who}: copy {n:,} docs between two CouchDB databases", value, "", ""))
    ratio = best["CouchDB /_replicate"].seconds / best["ours"].seconds
    medians = {who: statistics.median(r.seconds for r in timings) for who, timings in runs.items()}
    value = f"{ratio:.2f}x (best against best)"
    if opts.repeat > 1:  # the rounds of a loaded 2-core machine vary: the medians too
        value += f"; {medians['CouchDB /_replicate'] / medians['ours']:.2f}x median against median"
    rows.append(("ratio: CouchDB's time / ours (> 1: ours is faster)", value, "", ""))
    notes.append(
        f"Measurement 5: Apache CouchDB {version}, one node on 127.0.0.1, two-shard databases "
        f"(q=2, n=1); {n:,} records of server/demo_county.py (households, home visits, "
        f"patrols, water sources; seed {opts.seed}). Ours: sync.replicator.replicate with "
        f"two CouchStores, batch {opts.batch}, gzip off; CouchDB's: POST /_replicate, "
        "one-shot, its default settings. Each copy into a fresh database; best of "
        f"{opts.repeat} alternating rounds; server CPU is the CouchDB VM's (both replicators "
        "talk to it; CouchDB's runs inside it)."
    )
    return rows, notes, version


def run(opts: Options, workdir: Path) -> tuple[list[tuple[str, str, str, str]], list[str], dict]:
    """Every measurement; returns table rows, notes, and versions for the header."""
    # Parent-only imports: the RSS child must not carry pytest or the demo data generator.
    sys.path.insert(0, str(ROOT / "tests"))
    import requests
    from support.fault_proxy import FaultProxy
    from support.peer_server import running_pouchdb_server
    from support.pouchdb_client import PouchDB

    from server.demo_county import home_visits

    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    n = opts.docs
    docs = list(home_visits(n, seed=opts.seed))

    with ExitStack() as stack:
        server = stack.enter_context(running_pouchdb_server(workdir / "pouchdb-server"))
        server_pid = measure.server_pid(int(server.rsplit(":", 1)[1]))
        proxy = stack.enter_context(FaultProxy(upstream=server))  # no plan: no faults
        pouch = stack.enter_context(PouchDB(timeout=3600))
        http = stack.enter_context(requests.Session())
        versions = {
            "node": pouch.versions.get("node", "?"),
            "pouchdb": pouch.versions.get("pouchdb", "?"),
            "pouchdb-server": http.get(server, timeout=10).json().get("version", "?"),
        }

        def fresh_db(label: str) -> str:
            return f"bench-{label}-{uuid.uuid4().hex[:8]}"

        def drop_db(name: str) -> None:
            # In-memory server: dropping what we are done with keeps later runs fair.
            http.delete(f"{server}/{name}", timeout=60)

        # ---- 1. push and pull: ours and PouchDB's, in alternating rounds ------------
        _log(f"pre-filling a SqliteStore and a PouchDB memory database with {n:,} docs")
        push_source = stack.enter_context(SqliteStore(workdir / "push-source.sqlite"))
        _fill_sqlite(push_source, docs)
        pouch_source = pouch.open_local(fresh_db("pouch-source"))
        _fill_pouch(pouch, pouch_source, docs)
        warm = min(n, WARMUP_DOCS)
        warm_sqlite = stack.enter_context(SqliteStore(workdir / "warm-source.sqlite"))
        _fill_sqlite(warm_sqlite, docs[:warm])
        warm_pouch = pouch.open_local(fresh_db("pouch-warm"))
        _fill_pouch(pouch, warm_pouch, docs[:warm])

        def ours_round(source: SqliteStore, batch: int, count: int) -> tuple[Run, Run]:
            db = fresh_db(f"ours{batch}")
            pulled_path = workdir / f"{db}.sqlite"
            with CouchStore(f"{server}/{db}", create=True) as remote:
                push = _timed_run(_ours(source, remote, batch, count), server_pid)
                with SqliteStore(pulled_path) as pulled:
                    pull = _timed_run(_ours(remote, pulled, batch, count), server_pid)
            drop_db(db)
            _remove_sqlite(pulled_path)
            return push, pull

        def pouch_action(source: Any, target: Any, options: dict, count: int) -> Callable[[], int]:
            def action() -> int:
                answer = pouch.replicate(source, target, **options)
                assert answer.get("ok") and answer["docs_written"] == count, answer
                return answer["docs_written"]

            return action

        def pouch_round(source: Any, options: dict, count: int) -> tuple[Run, Run]:
            remote = pouch.open_remote(f"{server}/{fresh_db('pouch')}")
            push = _timed_run(pouch_action(source, remote, options, count), server_pid, pouch.pid)
            local = pouch.open_local(fresh_db("pouch-pull"))
            pull = _timed_run(pouch_action(remote, local, options, count), server_pid, pouch.pid)
            pouch.destroy(local)
            pouch.destroy(remote)  # deletes the server database
            return push, pull

        configs: list[tuple[str, str, Callable[[], tuple[Run, Run]]]] = [
            ("ours", f"batch {b}", lambda b=b: ours_round(push_source, b, n))
            for b in dict.fromkeys([opts.batch, opts.alt_batch or opts.batch])
        ]
        pouch_options = {"default 100": {}, str(opts.batch): {"batch_size": opts.batch}}
        pouch_options.pop("100", None)  # PouchDB's default is 100 already
        configs += [
            ("PouchDB", f"batch {label}", lambda o=o: pouch_round(pouch_source, o, n))
            for label, o in pouch_options.items()
        ]
        # A cold server (V8 not yet optimised) would handicap whichever side runs first.
        _log(f"warm-up: push and pull {warm:,} docs, ours and PouchDB's (not timed)")
        ours_round(warm_sqlite, opts.batch, warm)
        pouch_round(warm_pouch, {}, warm)
        pouch.destroy(warm_pouch)
        runs: dict[tuple[str, str], list[tuple[Run, Run]]] = defaultdict(list)
        for round_ in range(1, opts.repeat + 1):
            for who, label, go in configs:
                _log(f"round {round_}/{opts.repeat}: {who} {label}, push and pull {n:,} docs")
                runs[who, label].append(go())
        pouch.destroy(pouch_source)

        for direction, index in (("push", 0), ("pull", 1)):
            best: dict[tuple[str, str], Run] = {}
            for (who, label), pairs in runs.items():
                timings = [pair[index] for pair in pairs]
                best[who, label] = max(timings, key=lambda r: r.rate)
                value = best[who, label].describe()
                if len(timings) > 1:
                    median = statistics.median(r.rate for r in timings)
                    value = f"best {value}, median {median:,.0f} docs/s"
                rows.append((f"{who} {direction}, {label}", value, "", ""))
            mine = best["ours", f"batch {opts.batch}"].rate
            for (who, label), run_ in best.items():
                if who == "PouchDB":
                    ratio = mine / run_.rate
                    rows.append(
                        (
                            f"ratio {direction}: ours batch {opts.batch} / PouchDB {label}",
                            f"{ratio:.2f}x",
                            f">= {TARGET_RATIO:g}x",
                            measure.verdict(ratio >= TARGET_RATIO),
                        )
                    )

        # ---- 4. bytes on the wire for a push (and, for context, a pull) -------------
        raw_per_doc = sum(len(_compact(d)) for d in docs) / n
        gz_per_doc = sum(len(gzip.compress(_compact(d), GZIP_LEVEL)) for d in docs) / n
        gz_whole = len(gzip.compress(_compact(docs), GZIP_LEVEL)) / n
        wire: dict[str, tuple[float, dict[str, list[int]]]] = {}

        def measure_bytes(label: str, action: Callable[[], int]) -> None:
            proxy.reset_counters()
            action()
            by_endpoint: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
            for entry in proxy.log:
                counts = by_endpoint[_endpoint(entry.path)]
                counts[0] += 1
                counts[1] += entry.bytes_up
                counts[2] += entry.bytes_down
            wire[label] = ((proxy.bytes_up + proxy.bytes_down) / n, dict(by_endpoint))

        db = fresh_db("bytes-ours")
        with CouchStore(f"{proxy.url}/{db}", create=True) as remote:
            _log(f"ours: push {n:,} docs through the byte-counting proxy")
            measure_bytes(
                f"ours push, batch {opts.batch}", _ours(push_source, remote, opts.batch, n)
            )
            _log(f"ours: pull {n:,} docs through the byte-counting proxy")
            with SqliteStore(workdir / "pull-bytes.sqlite") as pulled:
                measure_bytes(
                    f"ours pull, batch {opts.batch}", _ours(remote, pulled, opts.batch, n)
                )
        drop_db(db)
        _log(f"PouchDB: push {n:,} docs through the byte-counting proxy")
        pouch_source = pouch.open_local(fresh_db("pouch-source"))
        _fill_pouch(pouch, pouch_source, docs)
        remote = pouch.open_remote(f"{proxy.url}/{fresh_db('bytes-pouch')}")
        measure_bytes("PouchDB push, batch default 100", pouch_action(pouch_source, remote, {}, n))
        pouch.destroy(remote)
        pouch.destroy(pouch_source)

        ours_push = wire[f"ours push, batch {opts.batch}"][0]
        overhead = ours_push / gz_per_doc - 1
        rows.append(
            (
                f"wire bytes/doc, ours push of {n:,} (up+down, batch {opts.batch})",
                f"{ours_push:,.0f} B = {overhead:+.0%} over per-doc gzip",
                f"<= +{TARGET_OVERHEAD:.0%} over per-doc gzip",
                measure.verdict(overhead <= TARGET_OVERHEAD),
            )
        )
        rows.append(
            (
                "  same, against whole-batch gzip",
                f"{ours_push / gz_whole - 1:+.0%} over {gz_whole:,.0f} B/doc",
                "(stricter baseline, no target)",
                "",
            )
        )
        for label, (per_doc, _) in wire.items():
            if not label.startswith("ours push"):
                rows.append(
                    (
                        f"wire bytes/doc, {label}",
                        f"{per_doc:,.0f} B ({per_doc / gz_per_doc - 1:+.0%})",
                        "",
                        "",
                    )
                )
        notes.append(
            f"Document baselines ({n:,} docs): compact UTF-8 JSON {raw_per_doc:,.0f} B/doc; "
            f"gzip -{GZIP_LEVEL} of each document alone {gz_per_doc:,.0f} B/doc (the baseline "
            f"the target uses); gzip -{GZIP_LEVEL} of all {n:,} as one JSON array "
            f"{gz_whole:,.0f} B/doc. "
            "Wire bytes are HTTP heads + bodies as relayed by the proxy (no TCP/IP framing)."
        )
        for label, (_, by_endpoint) in wire.items():
            heaviest = sorted(by_endpoint.items(), key=lambda kv: -(kv[1][1] + kv[1][2]))
            parts = ", ".join(
                f"{name} x{count}: {up / n:,.0f} up + {down / n:,.0f} down"
                for name, (count, up, down) in heaviest
            )
            notes.append(f"{label}, B/doc by endpoint: {parts}")

        # ---- 3. peak RSS, building the base of 2 on the way -------------------------
        base = opts.base
        _log(f"pre-filling a SqliteStore with {base:,} docs (streamed)")
        base_path = workdir / "device-a.sqlite"
        with SqliteStore(base_path) as device_a:
            _fill_sqlite(device_a, home_visits(base, seed=opts.seed + 1))
        base_db = fresh_db("base")
        CouchStore(f"{server}/{base_db}", create=True).close()
        # Through the proxy, as the incremental syncs will be: the replication id covers the
        # URL, so a different address would not find the checkpoints and start from 0.
        base_url = f"{proxy.url}/{base_db}"
        _log(f"child process: push {base:,} docs (batch {opts.batch})")
        child_push = _run_child("push", base_path, base_url, opts.batch)
        pulled_path = workdir / "device-b.sqlite"
        _log(f"child process: pull {base:,} docs into a fresh SqliteStore")
        child_pull = _run_child("pull", pulled_path, base_url, opts.batch)
        for direction, info in (("push", child_push), ("pull", child_pull)):
            assert info["ok"] and info["docs_written"] == base, info
            rows.append(
                (
                    f"peak RSS, child replicating {base:,} docs ({direction}, batch {opts.batch})",
                    f"{info['peak_mb']:,.0f} MB ({info['baseline_mb']:,.0f} MB after imports; "
                    f"{base / info['seconds']:,.0f} docs/s via proxy)",
                    f"<= {TARGET_RSS_MB} MB",
                    measure.verdict(info["peak_mb"] <= TARGET_RSS_MB),
                )
            )

        # ---- 2. incremental sync over the base ---------------------------------------
        def incremental(label: str, source: Any, target: Any) -> None:
            proxy.reset_counters()
            result: list[ReplicationResult] = []

            def action() -> int:
                result.append(replicate(source, target, batch_size=opts.batch))
                return result[0].docs_written

            run_ = _timed_run(action, server_pid)
            r = result[0]
            assert r.ok and r.docs_written == INCREMENTAL_DOCS, r.counters()
            assert r.missing_checked == INCREMENTAL_DOCS, r.counters()  # resumed, not rescanned
            total = proxy.bytes_up + proxy.bytes_down
            rows.append(
                (
                    f"incremental {label} of {INCREMENTAL_DOCS} new docs over {base:,}: time",
                    f"{run_.seconds:.3f} s ({proxy.requests} requests)",
                    f"<= {TARGET_INCR_SECONDS:g} s",
                    measure.verdict(run_.seconds <= TARGET_INCR_SECONDS),
                )
            )
            rows.append(
                (
                    f"incremental {label}: bytes on the wire (up+down)",
                    f"{total / 1024:,.1f} KB ({proxy.bytes_up:,} up + {proxy.bytes_down:,} down)",
                    f"<= {TARGET_INCR_BYTES // 1024} KB",
                    measure.verdict(total <= TARGET_INCR_BYTES),
                )
            )
            notes.append(
                f"incremental {label}, requests: "
                + ", ".join(
                    f"{e.method} {_endpoint(e.path)} {e.bytes_up}+{e.bytes_down} B"
                    for e in proxy.log
                )
            )

        # Pull first: server-side docs land on device B only; then device A's push.
        with CouchStore(f"{server}/{base_db}") as direct:
            answers = direct.bulk_docs(list(home_visits(INCREMENTAL_DOCS, seed=opts.seed + 2)))
            assert all(a.get("ok") for a in answers), answers[:3]
        with CouchStore(base_url) as remote, SqliteStore(pulled_path) as device_b:
            _log("incremental pull")
            incremental("pull", remote, device_b)
        with CouchStore(base_url) as remote, SqliteStore(base_path) as device_a:
            _fill_sqlite(device_a, home_visits(INCREMENTAL_DOCS, seed=opts.seed + 3))
            _log("incremental push")
            incremental("push", device_a, remote)
        drop_db(base_db)

    # Table order follows the brief: 1, 2, 3, 4.
    def order(row: tuple[str, str, str, str]) -> int:
        name = row[0]
        if name.startswith(("ours ", "PouchDB ", "ratio ")):
            return 0
        if name.startswith("incremental"):
            return 1
        if name.startswith("peak RSS"):
            return 2
        return 3

    rows.sort(key=order)  # stable: keeps each group's own order
    # 5, after pouchdb-server has stopped (the two servers would share 2 cores otherwise)
    couch_rows, couch_notes, versions["couchdb"] = couchdb_comparison(opts, workdir)
    return rows + couch_rows, notes + couch_notes, versions


def run_only_couchdb(
    opts: Options, workdir: Path
) -> tuple[list[tuple[str, str, str, str]], list[str], dict]:
    sys.path.insert(0, str(ROOT / "tests"))
    rows, notes, version = couchdb_comparison(opts, workdir)
    return rows, notes, {"couchdb": version, "node": "-", "pouchdb": "-", "pouchdb-server": "-"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000, help="documents pushed and pulled")
    parser.add_argument(
        "--incremental-base",
        type=int,
        default=100_000,
        help="documents already in sync for the incremental and RSS measurements",
    )
    parser.add_argument("--batch", type=int, default=500, help="our batch_size (and PouchDB's 2nd)")
    parser.add_argument(
        "--alt-batch", type=int, default=100, help="a second batch_size for ours (0: skip)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of measurement 1; the best is reported"
    )
    parser.add_argument("--seed", type=int, default=0, help="demo data seed")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to put the SQLite files and the server's logs (default: a temp dir)",
    )
    parser.add_argument(
        "--couchdb-docs", type=int, default=10_000, help="records copied in measurement 5"
    )
    parser.add_argument(
        "--skip-couchdb", action="store_true", help="leave out measurement 5 (Apache CouchDB)"
    )
    parser.add_argument("--only-couchdb", action="store_true", help="run measurement 5 alone")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON spec: measurement 3's child
    args = parser.parse_args(argv)
    if args.child:
        return child_main(json.loads(args.child))

    opts = Options(
        args.docs,
        args.incremental_base,
        args.batch,
        args.alt_batch,
        max(1, args.repeat),
        args.seed,
        args.couchdb_docs,
        args.skip_couchdb,
        args.only_couchdb,
    )
    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-repl-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        fs = measure.filesystem(workdir.resolve())
        load_before = os.getloadavg()[0]
        began = time.perf_counter()
        rows, notes, versions = (
            run_only_couchdb(opts, workdir) if opts.only_couchdb else run(opts, workdir)
        )
        elapsed = time.perf_counter() - began
        load_after = os.getloadavg()[0]

    command = shlex.join(
        ["python", *(sys.argv if argv is None else ["bench_replication.py", *argv])]
    )
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {measure.cpu_model()}, nproc {os.cpu_count()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, Node {versions['node']}, "
        f"PouchDB {versions['pouchdb']}, pouchdb-server {versions['pouchdb-server']} "
        f"(in memory, 127.0.0.1), Apache CouchDB {versions['couchdb']} (127.0.0.1), "
        f"SQLite files on {fs}; 1-min load average "
        f"{load_before:.2f} before, {load_after:.2f} after  "
    )
    data = (
        f"Data: {opts.docs:,} home visits (server/demo_county.py, seed {opts.seed}) for push/pull "
        f"and bytes; {opts.base:,} (seed {opts.seed + 1}) for RSS and incremental sync; "
        f"push/pull best of {opts.repeat} alternating rounds after a warm-up; "
    )
    if opts.only_couchdb:
        data = f"Data: measurement 5 only, {opts.couchdb_docs:,} field records; "
    print(f"{data}total run {elapsed:.0f} s")
    print()
    print("| metric | value | target | |")
    print("|---|---|---|---|")
    for metric, value, target, ok in rows:
        print(f"| {metric} | {value} | {target} | {ok} |")
    print()
    print("Notes:")
    print()
    if not opts.only_couchdb:
        print(
            "- Push/pull rates are the wall time of one `replicate` call (ours) or one "
            "`PouchDB.replicate` call through the Node driver (theirs), client and server on "
            "loopback with no proxy, each into a fresh database; our pulls write to SQLite with "
            "fsync, PouchDB's to memory. Client/server CPU is user+system time of each process "
            "over the run: when their sum is close to the wall time the two sides took turns."
        )
    for note in notes:
        print(f"- {note}")
    return 0  # it measures; it does not judge


if __name__ == "__main__":
    sys.exit(main())
