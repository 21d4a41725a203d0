"""A replication killed mid-way resumes from its checkpoint and re-sends at most a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from support.replicas import couch_store, snapshot, sqlite_store

from server.demo_county import home_visits
from sync.replicator import replicate

CHILD = Path(__file__).resolve().parent / "support" / "replicate_child.py"
ROOT = Path(__file__).resolve().parent.parent


def test_killed_replication_resumes_from_its_checkpoint(tmp_path: Path, couch_url: str) -> None:
    total, batch = 1200, 100
    with sqlite_store(tmp_path, "tablet") as tablet, couch_store(couch_url, "srv") as server:
        tablet.bulk_docs(list(home_visits(total, seed=3)))
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(tmp_path / "tablet.sqlite"), server.url, str(batch)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        recorded = 0
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("batch"):
                recorded = int(line.split()[2])
            if recorded >= 4 * batch:
                os.kill(child.pid, signal.SIGKILL)  # mid-replication, no clean-up
                break
        child.wait(timeout=30)
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        assert server.info()["doc_count"] < total

        resumed = replicate(tablet, server, batch_size=batch)
        assert resumed.start_seq != 0  # it found the checkpoint...
        # ...and re-sent at most the one batch that was in flight when killed
        assert resumed.docs_read <= total - recorded
        assert resumed.missing_checked <= total - recorded + batch
        assert resumed.ok and server.info()["doc_count"] == total
        assert snapshot(server) == snapshot(tablet)
