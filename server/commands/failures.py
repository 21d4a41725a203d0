"""How a command fails: one bilingual line ("中文。 / English.") on stderr and a
non-zero exit; the Python traceback only with `fieldsync --debug`.

`error_line` is the one place an exception becomes that line; `FieldsyncGroup`
(the `fieldsync` group) applies it to every command, click's own errors included.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from schemas import DocumentInvalid
from sync.errors import Forbidden, NotFound, PeerUnavailable, StoreError, Unauthorized
from sync.http_client import split_credentials

# What a volunteer can act on, rather than the peer's own words.
STORE_MESSAGES: dict[type[StoreError], str] = {
    Unauthorized: "用户名或密码错误，请检查后重试。 / "
    "The username or password is wrong; check them and try again.",
    Forbidden: "此账号无权访问，请联系站长或县里的管理员。 / "
    "This account may not do that; ask your station lead or the county's admin.",
    NotFound: "找不到该数据库，请检查地址（县级服务器的地址以 /db 结尾）。 / "
    "There is no such database; check the address (the county server's ends in /db).",
    PeerUnavailable: "连不上服务器，请检查网络、地址和端口，或稍后再试。 / "
    "Cannot reach the server; check the network, the address and the port, or try later.",
}
OS_MESSAGES: dict[int, str] = {
    errno.ENOENT: "文件或目录不存在。 / No such file or directory.",
    errno.EACCES: "没有权限访问。 / Permission denied.",
    errno.EPERM: "没有权限访问。 / Permission denied.",
    errno.ENOSPC: "磁盘已满。 / The disk is full.",
    errno.EROFS: "磁盘只读，无法写入。 / The disk is read-only.",
    errno.EISDIR: "这是一个目录，不是文件。 / That is a directory, not a file.",
    errno.ENOTDIR: "路径中有一项不是目录。 / A part of the path is not a directory.",
    errno.EADDRINUSE: "端口已被占用，请换一个 --port。 / The port is taken; choose another --port.",
    errno.EADDRNOTAVAIL: "本机没有这个地址，请检查 --host。 / No such address here; check --host.",
}
# For an OSError raised with a message only (no errno), e.g. sync.open's "no database at".
OS_ERRNOS: dict[type[OSError], int] = {
    FileNotFoundError: errno.ENOENT,
    PermissionError: errno.EACCES,
    IsADirectoryError: errno.EISDIR,
    NotADirectoryError: errno.ENOTDIR,
}
CANCELLED = "已取消。 / Cancelled."


class AtLocation(Exception):
    """`error` happened while working on `location` (a path, or a URL without credentials)."""

    def __init__(self, location: str, error: BaseException) -> None:
        super().__init__(f"{location}: {error}")
        self.location, self.error = location, error


@contextmanager
def at(location: str) -> Iterator[None]:
    """Name `location` in the error line of a store or file failure inside the block."""
    try:
        yield
    except (StoreError, OSError, sqlite3.Error) as exc:
        raise AtLocation(safe_location(location), exc) from exc


def safe_location(location: str) -> str:
    """A store location fit to print: a URL loses its `user:password@`."""
    if location.startswith(("http://", "https://")):
        return split_credentials(location)[0]
    return location


def error_line(exc: BaseException) -> str:
    """The one line a person is shown for `exc`."""
    if isinstance(exc, AtLocation):
        return f"{exc.location}: {error_line(exc.error)}"
    if isinstance(exc, click.UsageError):
        where = exc.ctx.command_path if exc.ctx else "fieldsync"
        text = exc.format_message().rstrip(".")
        return _one_line(
            f"命令用法有误（见 {where} --help）。 / Usage error: {text} (see {where} --help)."
        )
    if isinstance(exc, click.ClickException):
        return _bilingual(exc.format_message(), "命令出错。 / Error:")
    if isinstance(exc, StoreError):
        known = next((m for cls, m in STORE_MESSAGES.items() if isinstance(exc, cls)), None)
        return known or _one_line(
            f"数据库报错（{exc.error}）。 / The database answered {exc.error}: {exc.reason}"
        )
    if isinstance(exc, OSError):
        code = exc.errno or next((n for cls, n in OS_ERRNOS.items() if isinstance(exc, cls)), 0)
        text = OS_MESSAGES.get(code) or _one_line(
            f"系统报错。 / The system said: {exc.strerror or exc}."
        )
        return f"{exc.filename}: {text}" if exc.filename else text
    if isinstance(exc, sqlite3.Error):
        return _sqlite_line(exc)
    if isinstance(exc, DocumentInvalid):
        return _one_line(exc.reason)
    if isinstance(exc, ValueError):
        return _bilingual(str(exc), "输入有误。 / Invalid input:")
    return _one_line(
        "内部错误，请加 --debug 重新运行并报告。 / Internal error "
        f"({type(exc).__name__}: {exc}); run again as fieldsync --debug ... and report it."
    )


def _sqlite_line(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return "不是 fieldsync 数据库文件，或文件已损坏。 / Not a fieldsync database, or damaged."
    if "locked" in text or "busy" in text:
        return "数据库正被其他程序使用，请稍后再试。 / The database is busy; try again later."
    return _one_line(f"数据库文件出错。 / Database file error: {text}.")


def _bilingual(text: str, prefix: str) -> str:
    """Our messages are bilingual already; anyone else's gets a bilingual prefix."""
    has_chinese = any("\u4e00" <= char <= "\u9fff" for char in text)
    return _one_line(text if has_chinese and " / " in text else f"{prefix} {text}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


class FieldsyncGroup(click.Group):
    """The `fieldsync` group: every error as `error_line`, unless `--debug` is given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, EOFError):
            raise  # click's own: shown below, or an exit on purpose
        except BrokenPipeError:
            raise  # `fieldsync ... | head`: click quiets it
        except Exception as exc:
            if ctx.params.get("debug"):
                if isinstance(exc, AtLocation):  # the store's own error, where it was raised
                    exc.error.add_note(f"at {exc.location}")
                    raise exc.error from None
                raise
            raise click.ClickException(error_line(exc)) from exc

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            # Not standalone, so that click's errors come here instead of its usage page.
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            click.echo(error_line(exc), err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(CANCELLED, err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)
