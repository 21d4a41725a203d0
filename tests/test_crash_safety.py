"""SIGKILL a writer 50 times on one SqliteStore file; nothing acknowledged may be
lost and nothing half-written may show.

A writer subprocess (tests/support/crash_writer.py) alternates `put`s and `bulk_docs`
of up to 200 documents and reports, one flushed line per event, what it is
about to write and what was acknowledged. We kill it at a random moment:
during start-up and recovery, at a random time while writing, or deliberately
inside a large bulk. The same file is reused, so every run recovers and then
writes on top of what earlier runs left. After each kill we check:

- `PRAGMA integrity_check` is "ok" from a plain sqlite3 connection;
- the store holds exactly what was acknowledged, plus possibly the one write
  that was in flight when the process died, and that one completely or not at
  all (each document checked against its checksum, each revision exact);
- every batch visible in `all_docs` is complete (all-or-nothing on its own,
  without the writer's log);
- the changes feed lists the same documents as `all_docs`, each once, at the
  same revision, and agrees with `info()`.

A SIGKILL leaves the OS page cache intact, so this proves atomicity and crash
recovery, not durability across power loss (that is synchronous=FULL's job).

Set FIELDSYNC_CRASH_SEED to replay a failing run's random choices (kill
timing still depends on the machine).
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from sync.sqlite_store import SqliteStore

pytestmark = pytest.mark.slow

RUNS = 50
WRITER = Path(__file__).parent / "support" / "crash_writer.py"
ROOT = WRITER.parent.parent
LARGE_BULK = 100  # "mid_bulk" kills wait for a bulk at least this big
START_TIMEOUT = 20.0  # seconds for the writer to open the store (a slow CI box)

Ack = tuple[str, str]  # (rev, sum)


class Run:
    """One writer process and what it printed, with the time each line arrived."""

    def __init__(self, db: Path, seed: int, tag: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(seed), tag],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        self.events: list[tuple[float, dict]] = []
        self._queue: queue.Queue[tuple[float, dict] | None] = queue.Queue()
        # Read continuously in a thread: a full pipe would stall the writer and
        # turn "kill at a random point" into "kill while blocked on stdout".
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if raw.endswith(b"\n"):  # a line cut short by the kill was never acknowledged
                self._queue.put((time.monotonic(), json.loads(raw)))
        self._queue.put(None)

    def wait_for(self, want: Callable[[dict], bool], timeout: float) -> bool:
        """Collect events until `want(event)` is true; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                return False
            if item is None:
                self._queue.put(None)  # keep the end marker for `kill`
                return False
            self.events.append(item)
            if want(item[1]):
                return True
        return False

    def kill(self) -> tuple[int, str]:
        """SIGKILL, then collect every line the writer managed to print."""
        self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait()
        self._reader.join()
        while (item := self._queue.get()) is not None:
            self.events.append(item)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        stderr = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code, stderr


def _is_large_bulk(event: dict) -> bool:
    return event.get("begin") == "bulk" and len(event["docs"]) >= LARGE_BULK


def _bulk_durations(events: list[tuple[float, dict]]) -> list[float]:
    """Seconds from a large bulk's begin line to its ack, as seen by the parent."""
    out = []
    for (t0, begin), (t1, ack) in zip(events, events[1:], strict=False):
        if _is_large_bulk(begin) and ack.get("ack") == "bulk":
            out.append(t1 - t0)
    return out


def _gen(rev: str) -> int:
    return int(rev.split("-", 1)[0])


def _load_body_sum() -> Callable[[dict], str]:
    # The writer's own checksum code, not a copy that could drift from it.
    spec = importlib.util.spec_from_file_location("crash_writer", WRITER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.body_sum


body_sum = _load_body_sum()


def check_store(
    db: Path, model: dict[str, Ack], known: dict[str, dict], events: list[dict], rng: random.Random
) -> tuple[dict[str, Ack], dict[str, dict], str]:
    """Check the database after a kill, given the state `model` (and the
    documents `known`) found after the previous kill. Return the new state,
    documents and what happened to the write in flight ("none", "committed"
    or "lost")."""
    # What the writer was told is durable, in order, and the write it died in.
    expected = dict(model)
    in_flight: list[list[str]] | None = None
    acked_now: list[str] = []
    for event in events:
        if "begin" in event:
            in_flight = event["docs"]
        elif "ack" in event:
            for doc_id, rev, digest in event["docs"]:
                expected[doc_id] = (rev, digest)
                acked_now.append(doc_id)
            in_flight = None

    if db.exists():
        with closing(sqlite3.connect(f"file:{db}?mode=rw", uri=True)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchall()
        assert result == [("ok",)], f"integrity_check: {result[:5]}"
    else:
        assert not expected, "database file vanished after acknowledged writes"

    with SqliteStore(db) as store:
        actual: dict[str, Ack] = {}
        docs: dict[str, dict] = {}
        batches: dict[str, list[int]] = {}
        previous_id = ""
        for row in store.all_docs(include_docs=True):
            doc = row["doc"]
            doc_id = row["id"]
            assert doc_id > previous_id, f"all_docs out of order or repeated at {doc_id}"
            previous_id = doc_id
            assert doc["_id"] == doc_id and doc["_rev"] == row["value"]["rev"], row
            before = known.get(doc_id)
            if before is not None and before["_rev"] == doc["_rev"]:
                # Same revision as last time: must be the very same, already verified body
                # (a dict comparison; re-hashing every document every run is too slow).
                assert doc == before, f"{doc_id} {doc['_rev']} changed without a new revision"
            else:
                assert body_sum(doc) == doc["sum"], f"{doc_id} {doc['_rev']}: body torn/altered"
            actual[doc_id] = (doc["_rev"], doc["sum"])
            docs[doc_id] = doc
            batches.setdefault(doc["batch"], [doc["batch_size"], 0])[1] += 1

        # Exactly the acknowledged state, plus the in-flight write entirely or not at all.
        flight = dict(in_flight or [])
        changed = {i for i in expected.keys() | actual.keys() if expected.get(i) != actual.get(i)}
        wrong = sorted(changed - flight.keys())
        assert not wrong, (
            f"{len(wrong)} documents differ from what was acknowledged (lost, reverted or "
            f"unasked for), e.g. {[(i, expected.get(i), actual.get(i)) for i in wrong[:2]]}"
        )
        if not changed:
            fate = "lost" if in_flight else "none"
        else:
            assert changed == flight.keys(), (
                f"in-flight write half applied: {len(changed)} of {len(flight)} documents, "
                f"missing e.g. {sorted(flight.keys() - changed)[:3]}"
            )
            for doc_id, digest in flight.items():
                rev, stored_sum = actual[doc_id]
                want_gen = _gen(expected[doc_id][0]) + 1 if doc_id in expected else 1
                assert stored_sum == digest and _gen(rev) == want_gen, (
                    f"in-flight {doc_id} stored as {rev} {stored_sum[:8]}, "
                    f"expected generation {want_gen} {digest[:8]}"
                )
            fate = "committed"

        # All-or-nothing judged from the data alone, as a reader would see it.
        torn = {b: counts for b, counts in batches.items() if counts[0] != counts[1]}
        assert not torn, f"partial batches (size, present): {dict(list(torn.items())[:3])}"

        # Acknowledged documents read back by id, not only through all_docs.
        for doc_id in rng.sample(acked_now, min(len(acked_now), 300)):
            got = store.get(doc_id)
            assert got == docs[doc_id], f"get({doc_id}) disagrees with all_docs"

        # The changes feed and info() tell the same story as all_docs.
        feed = store.changes(since=0)
        seen: dict[str, str] = {}
        last = None
        for row in feed:
            assert row["id"] not in seen, f"{row['id']} twice in the changes feed"
            assert not row.get("deleted"), row
            seen[row["id"]] = row["changes"][0]["rev"]
            if isinstance(row["seq"], int):
                assert last is None or row["seq"] > last, f"seq not increasing at {row}"
                last = row["seq"]
        assert seen.keys() == actual.keys(), (
            f"changes vs all_docs: only in changes {sorted(seen.keys() - actual.keys())[:3]}, "
            f"only in all_docs {sorted(actual.keys() - seen.keys())[:3]}"
        )
        stale = [i for i, rev in seen.items() if rev != actual[i][0]]
        assert not stale, f"changes feed names other revisions than all_docs: {stale[:3]}"
        info = store.info()
        assert info["doc_count"] == len(actual), info
        if actual:
            assert feed.last_seq == info["update_seq"], (feed.last_seq, info)
    return actual, docs, fate


def test_sigkill_loses_no_acknowledged_write_and_tears_none(tmp_path: Path) -> None:
    seed = int(os.environ.get("FIELDSYNC_CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    db = tmp_path / "tablet.sqlite"
    model: dict[str, Ack] = {}
    known: dict[str, dict] = {}
    fates: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    durations: list[float] = []
    began = time.monotonic()

    for run in range(RUNS):
        # Draw everything up front so the sequence of choices depends on the seed only.
        mode = rng.choices(["startup", "timed", "mid_bulk"], weights=[1, 5, 4])[0]
        child_seed = rng.randrange(2**32)
        delay = rng.uniform(0.0, 0.3)
        fraction = rng.random()
        check_rng = random.Random(rng.randrange(2**32))
        context = f"seed={seed} (FIELDSYNC_CRASH_SEED) run={run} mode={mode}"
        modes[mode] += 1

        writer = Run(db, child_seed, f"r{run:02d}")
        try:
            if mode == "startup":  # may land in import, open, schema setup or WAL recovery
                time.sleep(delay * 0.8)
            else:
                ready = writer.wait_for(lambda e: "ready" in e, START_TIMEOUT)
                assert ready or writer.proc.poll() is not None, f"{context}: writer never ready"
                if mode == "timed":
                    writer.wait_for(lambda e: False, delay)
                else:
                    # Kill inside a large bulk, at a random point of its typical duration.
                    writer.wait_for(_is_large_bulk, 5.0)
                    typical = statistics.median(durations) if durations else 0.02
                    writer.wait_for(lambda e: False, fraction * typical)
        finally:
            code, stderr = writer.kill()
        events = [event for _, event in writer.events]
        assert code == -signal.SIGKILL, f"{context}: writer exited {code} by itself:\n{stderr}"
        durations.extend(_bulk_durations(writer.events))

        try:
            model, known, fate = check_store(db, model, known, events, check_rng)
        except AssertionError as exc:
            raise AssertionError(f"{context}: {exc}") from exc
        fates[fate] += 1

    elapsed = time.monotonic() - began
    summary = (
        f"seed={seed}: {RUNS} kills {dict(modes)}, in-flight write at kill "
        f"{dict(fates)}, {len(model)} documents, {elapsed:.1f} s"
    )
    print(summary)
    # The test only proves something if kills really landed inside writes.
    assert fates["committed"] + fates["lost"] >= 5, summary
