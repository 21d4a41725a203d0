"""Replication checkpoints: `_local` documents on both ends, CouchDB's layout.

Each side keeps ``{"session_id", "source_last_seq", "replication_id_version",
"history": [...]}`` under ``_local/<replication id>``. A replication resumes
from the newest session both sides recorded (CouchDB's log comparison), so a
checkpoint written to only one side before a crash never makes it skip work.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping

from .errors import Conflict, NotFound, StoreError
from .store import Seq, Store

REPLICATION_ID_VERSION = 3  # bump when the id recipe changes: old checkpoints are ignored
MAX_HISTORY = 50


def replication_id(source: Store, target: Store, params: Mapping) -> str:
    """Stable for the same endpoints and filter parameters (CouchDB's rule)."""
    recipe = json.dumps(
        [source.identity(), target.identity(), dict(params), REPLICATION_ID_VERSION],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.md5(recipe.encode("utf-8"), usedforsecurity=False).hexdigest()


def start_seq(source: Store, target: Store, rep_id: str) -> Seq:
    """Where to resume: the last sequence both sides agree was reached, else 0."""
    return _agreed_seq(_read_raw(source, rep_id), _read_raw(target, rep_id))


def _agreed_seq(on_source: dict | None, on_target: dict | None) -> Seq:
    """CouchDB's log comparison of the two sides' checkpoints."""
    if not _current_version(on_source) or not _current_version(on_target):
        return 0
    if on_source.get("session_id") == on_target.get("session_id"):
        return on_source.get("source_last_seq", 0)
    target_sessions = {entry.get("session_id") for entry in on_target.get("history", [])}
    for entry in on_source.get("history", []):  # newest first
        if entry.get("session_id") in target_sessions:
            return entry.get("recorded_seq", 0)
    return 0


def _current_version(doc: dict | None) -> bool:
    return doc is not None and doc.get("replication_id_version") == REPLICATION_ID_VERSION


class Checkpointer:
    """One replication session's checkpoints on both sides.

    Both sides' checkpoints are read once, at the start; later writes reuse the
    revision and history they wrote last, so a checkpoint costs one write per side
    (re-reading only if another writer got in between, on a 409).
    """

    def __init__(self, source: Store, target: Store, rep_id: str) -> None:
        self.source, self.target, self.rep_id = source, target, rep_id
        self.session_id = hashlib.md5(
            f"{rep_id}{time.time_ns()}".encode(), usedforsecurity=False
        ).hexdigest()
        self.start_time = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
        self._held = {"source": _read_raw(source, rep_id), "target": _read_raw(target, rep_id)}
        self.start_seq = _agreed_seq(self._held["source"], self._held["target"])

    def record(self, seq: Seq, counters: Mapping[str, int]) -> None:
        """Record that everything up to `seq` is on the target (target first, then source:
        a crash between the two leaves the sides disagreeing, which restarts safely)."""
        entry = {
            "session_id": self.session_id,
            "start_time": self.start_time,
            "end_time": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
            "start_last_seq": self.start_seq,
            "end_last_seq": seq,
            "recorded_seq": seq,
            **counters,
        }
        for side, store in (("target", self.target), ("source", self.source)):
            self._write(side, store, seq, entry)

    def _write(self, side: str, store: Store, seq: Seq, entry: dict) -> None:
        for _ in range(3):
            current = self._held[side]
            history = [
                h
                for h in (current or {}).get("history", [])
                if h.get("session_id") != self.session_id
            ]
            doc = {
                "_id": f"_local/{self.rep_id}",
                "session_id": self.session_id,
                "source_last_seq": seq,
                "replication_id_version": REPLICATION_ID_VERSION,
                "history": [entry, *history][:MAX_HISTORY],
            }
            if current and "_rev" in current:
                doc["_rev"] = current["_rev"]
            try:
                self._held[side] = {**doc, "_rev": store.put_local(doc)}
                return
            except Conflict:  # another writer got in between: re-read, merge, retry
                self._held[side] = _read_raw(store, self.rep_id)
                # ... or this very write landed and only its answer was lost (a retried
                # PUT then conflicts with itself): then it is done.
                if _without_rev(self._held[side]) == _without_rev(doc):
                    return
        raise StoreError(f"could not write checkpoint _local/{self.rep_id}: kept conflicting")


def _read_raw(store: Store, rep_id: str) -> dict | None:
    try:
        return store.get_local(rep_id)
    except NotFound:
        return None


def _without_rev(doc: Mapping | None) -> dict | None:
    return None if doc is None else {k: v for k, v in doc.items() if k != "_rev"}
