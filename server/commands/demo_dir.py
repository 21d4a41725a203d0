"""The demo's data directory: a marker file lists what the demo created, so the demo
never deletes anything else.

A directory is new (absent or empty), a demo (its marker says the build
finished), an unfinished demo (a build was interrupted), or foreign (anything
else: never touched). `--rebuild` deletes only the files the marker lists.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..database import GATEWAY_FILE
from ..services import SERVER_FILES, STORE_FILE, with_sqlite_companions

MARKER = "fieldsync-demo.json"
PARTIAL = MARKER + ".partial"  # the marker being written
# Every file the demo may create: the county (create_app), the two tablets of the
# offline-conflict walk-through, and what SQLite keeps beside each database.
DATABASES = (*SERVER_FILES, "tablet-1.sqlite", "tablet-2.sqlite")
HUB_DIR = "hub"  # the demo station hub's data directory, inside the demo's
DEMO_FILES = (
    with_sqlite_companions(DATABASES)
    + with_sqlite_companions(f"{HUB_DIR}/{name}" for name in SERVER_FILES)
    + ("secret_key", f"{HUB_DIR}/secret_key")
)


class State(Enum):
    NEW = "new"
    DEMO = "demo"
    UNFINISHED = "unfinished"
    FOREIGN = "foreign"


@dataclass(frozen=True)
class DemoDir:
    path: Path

    @property
    def marker(self) -> Path:
        return self.path / MARKER

    def state(self) -> State:
        if not self.path.exists():
            return State.NEW
        if self.path.is_dir() and all(p.name == PARTIAL for p in self.path.iterdir()):
            return State.NEW  # empty, or a first marker write was interrupted
        settings = self.settings()
        if settings is None:
            return State.FOREIGN
        complete = settings.get("complete") is True
        databases = all((self.path / name).is_file() for name in (STORE_FILE, GATEWAY_FILE))
        return State.DEMO if complete and databases else State.UNFINISHED

    def settings(self) -> dict[str, Any] | None:
        """The marker's content, or None where there is no readable marker."""
        try:
            content = json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(content, dict) or content.get("created_by") != "fieldsync demo":
            return None
        return content

    def claim(self, seed: int, rounds: int) -> None:
        """Write the marker before the first file exists, so an interrupted build can
        be rebuilt; `finish` marks it complete."""
        self.path.mkdir(parents=True, exist_ok=True)
        taken = [name for name in DEMO_FILES if (self.path / name).exists()]
        if taken:  # a file the demo would write, not listed by a marker: not ours
            where = self.path / taken[0]
            raise ValueError(
                f"{where} 已存在且不是演示生成的，未做任何改动。 / "
                f"{where} exists and was not made by the demo; nothing was changed."
            )
        self._write({"created_by": "fieldsync demo", "seed": seed, "rounds": rounds,
                     "complete": False, "files": list(DEMO_FILES)})  # fmt: skip

    def finish(self) -> None:
        self._write({**(self.settings() or {}), "complete": True})

    def remove(self) -> list[str]:
        """Delete the files the marker lists (only names the demo makes), then the
        marker. Returns the names deleted."""
        settings = self.settings() or {}
        deleted = []
        for name in settings.get("files", []):
            if name not in DEMO_FILES:
                continue  # a hand-edited marker never reaches beyond the demo's own files
            path = self.path / name
            if path.is_file() or path.is_symlink():
                path.unlink()
                deleted.append(name)
        hub = self.path / HUB_DIR
        if hub.is_dir() and not any(hub.iterdir()):
            hub.rmdir()
        self.marker.unlink(missing_ok=True)
        return deleted

    def _write(self, content: dict[str, Any]) -> None:
        partial = self.path / PARTIAL
        partial.write_text(json.dumps(content, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(partial, self.marker)  # never a half-written marker
