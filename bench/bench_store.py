"""Measure SqliteStore on realistic home visits and print a Markdown table.

    .venv/bin/python bench/bench_store.py [--docs 10000] [--dir PATH]

Figures: bulk insert rate (bulk_docs in batches), durable single-save latency
(individual puts, each its own fsynced transaction), full changes-feed scan,
read by id in random order, process peak RSS, and file size against the
documents' JSON. Each is printed next to its target; the script measures and
never fails on a miss (exit status 0). Paste the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

# Runnable as a plain script from a checkout, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import measure  # noqa: E402  (bench/measure.py, beside this script)

from server.demo_county import home_visits  # noqa: E402
from sync.sqlite_store import SqliteStore  # noqa: E402

TARGET_BULK = 5_000  # docs/s
TARGET_SINGLE_P50_MS = 5.0
TARGET_CHANGES = 50_000  # rows/s
TARGET_FILE_RATIO = 1.5  # file bytes / JSON bytes


def _json_bytes(doc: dict) -> int:
    # Compact UTF-8 JSON (Chinese as 3 bytes, not \uXXXX): the smallest honest baseline.
    return len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _timed(action: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = action()
    return count, time.perf_counter() - start


def run(n_docs: int, batch: int, singles: int, workdir: Path, seed: int) -> list[tuple]:
    """Run every measurement; return table rows (metric, value, target, verdict)."""
    docs = list(home_visits(n_docs, seed=seed))
    # A different seed for the single saves: new documents, not edits of bulk ones.
    single_docs = list(home_visits(singles, seed=seed + 1))
    json_total = sum(_json_bytes(d) for d in docs) + sum(_json_bytes(d) for d in single_docs)
    path = workdir / "bench.sqlite"
    rows: list[tuple] = []
    rss_before_store = measure.peak_rss_mb()  # interpreter + imports + the generated documents

    def verdict(ok: bool) -> str:
        return "meets" if ok else "**misses**"

    with SqliteStore(path) as store:

        def bulk() -> int:
            for i in range(0, len(docs), batch):
                results = store.bulk_docs(docs[i : i + batch])
                assert all(r.get("ok") for r in results), results[:3]
            return len(docs)

        count, seconds = _timed(bulk)
        rate = count / seconds
        rows.append(
            (
                f"bulk insert (bulk_docs x{batch})",
                f"{rate:,.0f} docs/s",
                f">= {TARGET_BULK:,} docs/s",
                verdict(rate >= TARGET_BULK),
            )
        )

        latencies = []
        for doc in single_docs:
            start = time.perf_counter()
            store.put(doc)
            latencies.append((time.perf_counter() - start) * 1000)
        p50, p99 = measure.percentile(latencies, 0.50), measure.percentile(latencies, 0.99)
        rows.append(
            (
                f"single durable put, p50 ({singles} puts)",
                f"{p50:.2f} ms",
                f"<= {TARGET_SINGLE_P50_MS:g} ms",
                verdict(p50 <= TARGET_SINGLE_P50_MS),
            )
        )
        rows.append(("single durable put, p99", f"{p99:.2f} ms", "", ""))

        def scan() -> int:
            return sum(1 for _ in store.changes(since=0))

        count, seconds = _timed(scan)
        assert count == len(docs) + len(single_docs), count
        rate = count / seconds
        rows.append(
            (
                "changes feed scan (since=0)",
                f"{rate:,.0f} rows/s",
                f">= {TARGET_CHANGES:,} rows/s",
                verdict(rate >= TARGET_CHANGES),
            )
        )

        ids = [d["_id"] for d in docs] + [d["_id"] for d in single_docs]
        random.Random(seed).shuffle(ids)

        def read() -> int:
            for doc_id in ids:
                store.get(doc_id)
            return len(ids)

        count, seconds = _timed(read)
        rows.append(("read by id (get, random order)", f"{count / seconds:,.0f} docs/s", "", ""))

    rows.append(
        (
            "peak RSS (process peak, VmHWM)",
            f"{measure.peak_rss_mb():,.0f} MB ({rss_before_store:,.0f} MB before the store opened: "
            "interpreter + generated docs)",
            "",
            "",
        )
    )

    # Fold the WAL back so the file size is what a tablet keeps at rest.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Path(f"{path}-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    ratio = size / json_total
    rows.append(
        (
            "file size (main + WAL, after checkpoint)",
            f"{size / 2**20:,.1f} MiB = {ratio:.2f}x JSON ({json_total / 2**20:,.1f} MiB)",
            f"<= {TARGET_FILE_RATIO:g}x JSON",
            verdict(ratio <= TARGET_FILE_RATIO),
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000, help="documents to bulk insert")
    parser.add_argument("--batch", type=int, default=500, help="documents per bulk_docs call")
    parser.add_argument("--singles", type=int, default=1_000, help="individual durable puts")
    parser.add_argument("--seed", type=int, default=0, help="demo data seed")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to put the database (default: a fresh temp dir; "
        "use a real disk, tmpfs makes fsync free)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        fs = measure.filesystem(workdir.resolve())
        began = time.perf_counter()
        rows = run(args.docs, args.batch, args.singles, workdir, args.seed)
        elapsed = time.perf_counter() - began

    command = shlex.join(["python", *(sys.argv if argv is None else ["bench_store.py", *argv])])
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {measure.cpu_model()}, nproc {os.cpu_count()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, database on {fs}  "
    )
    print(
        f"Data: {args.docs:,} + {args.singles:,} home visits (server/demo_county.py, "
        f"seed {args.seed}); total run {elapsed:.1f} s"
    )
    print()
    print("| metric | value | target | |")
    print("|---|---|---|---|")
    for metric, value, target, ok in rows:
        print(f"| {metric} | {value} | {target} | {ok} |")
    return 0  # it measures; it does not judge


if __name__ == "__main__":
    sys.exit(main())
