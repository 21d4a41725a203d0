"""Every command error is one bilingual line and a non-zero exit; a traceback only
with `fieldsync --debug`."""

from __future__ import annotations

import errno
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from support.county import live_county

from server.commands.cli import main
from server.commands.failures import AtLocation, error_line
from sync import SqliteStore
from sync.errors import NotFound, PeerUnavailable, StoreError, Unauthorized

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


def test_debug_keeps_the_traceback(server, tmp_path: Path) -> None:
    host = server.url.removeprefix("http://")
    args = ["replicate", f"http://xiaowang:guess-1234@{host}/db", str(tmp_path / "t.sqlite")]
    assert isinstance(CliRunner().invoke(main, ["--debug", *args]).exception, Unauthorized)
    assert isinstance(CliRunner().invoke(main, args).exception, SystemExit)


def test_replicate_names_a_missing_database_and_an_unreachable_server(
    server, tmp_path: Path
) -> None:
    host = server.url.removeprefix("http://")
    missing = fieldsync("replicate", f"http://xiaowang:{PASSWORD}@{host}/nodb", "t.sqlite")
    assert missing.returncode == 1
    line = one_line(missing.stderr)
    assert line.startswith(f"http://{host}/nodb: ") and "找不到该数据库" in line
    assert PASSWORD not in line
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = fieldsync("replicate", str(tmp_path / "t.sqlite"), f"http://127.0.0.1:{port}/db")
    assert unreachable.returncode == 1
    line = one_line(unreachable.stderr)
    assert "t.sqlite" in line and "No such file" in line  # the source is checked first
    source = tmp_path / "source.sqlite"
    SqliteStore(source).close()
    unreachable = fieldsync("replicate", str(source), f"http://127.0.0.1:{port}/db")
    assert unreachable.returncode == 1
    assert "连不上服务器" in one_line(unreachable.stderr)


def test_a_missing_or_foreign_source_file_is_named_and_never_created(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["replicate", str(tmp_path / "tablett.sqlite"), "out.sqlite"])
    assert missing.exit_code == 1 and not (tmp_path / "tablett.sqlite").exists()
    assert "tablett.sqlite: 文件或目录不存在。 / No such file or directory." in missing.output
    notes = tmp_path / "notes.txt"
    notes.write_text("不是数据库" * 200)
    foreign = runner.invoke(main, ["replicate", str(notes), str(tmp_path / "out.sqlite")])
    assert foreign.exit_code == 1 and "Not a fieldsync database" in one_line(foreign.output)


@pytest.mark.parametrize(
    "args",
    [["--bogus"], ["replicate"], ["admin", "create-user"], ["demo", "--rounds", "0"]],
)
def test_usage_errors_are_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Usage error" in one_line(result.output) and "--help" in result.output


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("地区不存在。 / No such place."), "地区不存在。 / No such place."),
        (ValueError("bad\nvalue"), "输入有误。 / Invalid input: bad value"),
        (PermissionError(13, "Permission denied", "/srv/x"), "/srv/x: 没有权限访问。"),
        (OSError(errno.ENOSPC, "No space left on device"), "磁盘已满。 / The disk is full."),
        (OSError(errno.EADDRINUSE, "Address in use"), "The port is taken; choose another --port"),
        (OSError(errno.EIO, "I/O error"), "系统报错。 / The system said: I/O error."),
        (sqlite3.OperationalError("database is locked"), "The database is busy"),
        (NotFound("missing"), "There is no such database"),
        (PeerUnavailable("gave up"), "Cannot reach the server"),
        (StoreError("odd"), "数据库报错（unknown_error）。 / The database answered unknown_error"),
        (KeyError("x"), "Internal error (KeyError: 'x'); run again as fieldsync --debug"),
        (click.ClickException("plain"), "命令出错。 / Error: plain"),
        (AtLocation("tablet.sqlite", Unauthorized("no")), "tablet.sqlite: 用户名或密码错误"),
    ],
)
def test_error_line(error: BaseException, expected: str) -> None:
    line = error_line(error)
    assert expected in line and "\n" not in line and "。 / " in line
