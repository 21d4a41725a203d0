"""Runs one replication in its own process, for the kill-and-resume test.

Usage: python replicate_child.py SOURCE TARGET BATCH_SIZE
Prints "batch <n> <docs_written>" after each checkpointed batch, flushed, so
the parent knows what was recorded before it kills this process.
"""

from __future__ import annotations

import sys
import time

from sync.open import open_store
from sync.replicator import ReplicationResult, replicate


def report(result: ReplicationResult) -> None:
    print(f"batch {result.batches} {result.docs_written}", flush=True)
    time.sleep(0.05)  # leave the parent time to kill between batches and inside them


if __name__ == "__main__":
    source, target, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open_store(source) as src, open_store(target) as dst:
        replicate(src, dst, batch_size=batch_size, progress=report)
    print("done", flush=True)
