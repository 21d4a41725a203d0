"""Measuring helpers shared by the benchmarks: the machine, processes, percentiles.

Linux-only where it reads /proc; each helper says what it returns elsewhere.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's own peak RSS.

    Linux's ru_maxrss is no good in a child: exec keeps the parent's high-water
    mark (a child of a 300 MB parent reports >= 300 MB, and so does
    RUSAGE_CHILDREN), so VmHWM, which belongs to the new address space, is read.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of another process (Linux /proc); None where unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            # Fields after the ")" closing the command name: utime and stime are 12th and 13th.
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def server_pid(port: int) -> int | None:
    """The pouchdb-server node process we started (running_pouchdb_server yields a URL only)."""
    for pid in _children(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pouchdb-server" in b" ".join(cmdline) and str(port).encode() in cmdline:
            return pid
    return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def filesystem(path: Path) -> str:
    """The mount type under `path` (our pulls fsync every batch: ext4 and tmpfs differ)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                _, mount_point, fs_type, *_ = line.split()
                if str(path).startswith(mount_point) and len(mount_point) > len(best):
                    best, kind = mount_point, fs_type
    except OSError:
        pass
    return kind


def verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def batches(docs: Iterable[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
