"""`fieldsync serve` run as a process of its own: the address it prints once it serves."""

from __future__ import annotations

import re
import subprocess

import pytest


def served_url(process: subprocess.Popen) -> str:
    """Read the server's stderr up to its "Serving 服务地址 URL" line; that URL."""
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"Serving 服务地址 (https?://\S+)", line)
        if found:
            return found.group(1)
    pytest.fail("fieldsync serve ended before serving")
