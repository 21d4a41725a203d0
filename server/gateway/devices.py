"""When each tablet last synced with this gateway, by its `X-Fieldsync-Device` header:
a station lead sees which tablets have not come in (server/station/). Written at most
once a minute per device (a sync is many requests), in this process's own file."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sync.sqlite_database import SqliteDatabase

WRITE_EVERY = 60.0  # seconds: how stale a device's "last sync" may be


@dataclass(frozen=True)
class Seen:
    device: str
    username: str
    at: float


class DeviceLog:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def seen(self, device: str, username: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            if now - self._written.get(device, 0.0) < WRITE_EVERY:
                return
            self._written[device] = now
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO device_seen (device, username, at) VALUES (?, ?, ?)",
                (device, username, now),
            )

    def devices(self) -> list[Seen]:
        """Every device seen, most recent first."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT device, username, at FROM device_seen ORDER BY at DESC")
            return [Seen(*row) for row in rows.fetchall()]
