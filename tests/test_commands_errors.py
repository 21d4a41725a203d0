"""Every command error is one bilingual line and a non-zero exit; a traceback only
with `fieldsync --debug`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.county import live_county

PASSWORD = "走访记录-2024"  # the password support.county gives its users


def fieldsync(*args: str) -> subprocess.CompletedProcess:
    """The installed command in its own process, as a volunteer runs it (the live
    server's own log lines stay in this process)."""
    command = [str(Path(sys.executable).with_name("fieldsync")), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output and "。 / " in lines[0], output
    return lines[0]


@pytest.fixture
def server(tmp_path: Path):  # noqa: ANN201 - yields the live county
    with live_county(tmp_path / "county", None) as county:
        county.add_user("xiaowang", "volunteer", "422827100001")
        yield county


def test_replicate_with_a_wrong_password_is_one_bilingual_line(server, tmp_path: Path) -> None:
    host = server.url.removeprefix("http://")
    tablet = tmp_path / "tablet.sqlite"
    result = fieldsync("replicate", f"http://xiaowang:guess-1234@{host}/db", str(tablet))
    assert result.returncode == 1
    line = one_line(result.stdout + result.stderr)
    assert "密码" in line and "password" in line and "guess-1234" not in line
    assert not tablet.exists()  # nothing was created for a replication that never started
