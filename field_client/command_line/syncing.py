"""A device's sync with its node: push, pull, push (field_client/README.md).

The first push sends what the volunteer saved; the pull brings notices, reviews,
households and the roster; the last push sends nothing (the server holds what it just
sent) but its checkpoint passes the pulled documents, so `push_seq` does too and they
are not counted as unsent. `push_seq` is recorded after each completed push, so a pull
that fails leaves what was sent counted as sent. All three legs are
`sync.replicator.replicate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sync.replicator import ReplicationResult, replicate
from sync.store import Store

from . import local
from .local import Identity
from .states import look

Leg = str  # "push", "pull", "confirm"
Progress = Callable[[Leg, ReplicationResult], None]
REFUSALS_KEPT = 200  # refused rows remembered in the summary (a tablet holds little)


@dataclass
class SyncSummary:
    """What one sync did; the same counts as the tablet app keeps."""

    sent: int = 0
    received: int = 0
    refused: int = 0
    conflicts: int = 0
    # The push's refused rows, {"id", "error", "reason"}, the first REFUSALS_KEPT of them.
    refusals: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def sync_device(
    device: Store, node: Store, who: Identity, progress: Progress | None = None
) -> SyncSummary:
    """Push, pull, push between this `device` and its `node`; remembered in
    `_local/fieldsync-sync`. Store errors (a wrong password, a lost link) propagate."""
    summary = SyncSummary()

    def leg(name: Leg, source: Store, target: Store) -> ReplicationResult:
        result = replicate(
            source, target, progress=(lambda r: progress(name, r)) if progress else None
        )
        if source is device:
            local.record_push(device, result.last_seq)
            summary.sent += result.docs_written
            summary.refused += result.doc_write_failures
            summary.refusals += result.failures[: REFUSALS_KEPT - len(summary.refusals)]
        else:
            summary.received += result.docs_written
        return result

    leg("push", device, node)
    leg("pull", node, device)
    leg("confirm", device, node)
    summary.conflicts = len(look(device, who, local.push_seq(device)).conflicted)
    local.record_sync(device, summary.as_json())
    return summary
