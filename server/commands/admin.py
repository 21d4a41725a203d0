"""`fieldsync admin`: accounts and reference data, run on the county server.

Each command builds the app with `create_app()` (FIELDSYNC_* environment and
instance/config.py, as `fieldsync serve` does) and uses its services, so the
commands and the server always agree on where the data lives.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from schemas import CURRENT_VERSIONS, DocumentInvalid, place_level, place_parent, validate_document
from schemas.fields import Bool, Int, List, Number
from schemas.places import is_place_code
from schemas.registry import schema_for
from sync.store import Store

from ..accounts.users import ROLES, UserStore, message
from ..app import create_app
from ..logs import log_event

SECTIONS = {"users": "user", "places": "place", "teams": "team", "stations": "station"}
USER_FIELDS = ("username", "password", "role", "scope", "display_name", "team")
BATCH = 500


@contextmanager
def _server() -> Iterator[tuple[UserStore, Store]]:
    """The configured app's accounts and store; a ValueError (bilingual) ends the command."""
    app = create_app()
    services = app.extensions["fieldsync"]
    try:
        with app.app_context():
            yield UserStore(services.db), services.store
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.close()


def _read_password(password_stdin: bool) -> str:
    if password_stdin:  # for scripts: the first line of stdin, without its newline
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password 密码", hide_input=True, confirmation_prompt="Repeat 再次输入密码")


@click.group()
def admin() -> None:
    """Manage accounts and reference data on the county server.
    管理县级服务器上的账号和基础数据。"""


@admin.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="The account's role.")
@click.option("--scope", required=True, help="Place code the user may see (6-15 digits).")
@click.option("--display-name", help="Name shown to people, e.g. 田秀英.")
@click.option("--team", help="Team document id, e.g. team:422827100001.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def create_user(
    username: str,
    role: str,
    scope: str,
    display_name: str | None,
    team: str | None,
    password_stdin: bool,
) -> None:
    """Create a login account; the password is asked twice, hidden.
    创建登录账号（密码隐藏输入两次）。"""
    with _server() as (users, _):
        # Refuse a bad role or scope before anyone types a password.
        users.validate_new(username, "x" * 8, role, scope, display_name, team)
        password = _read_password(password_stdin)
        user = users.create(username, password, role, scope, display_name, team)
        log_event("user_created", user=user.username, role=user.role, scope=user.scope)
    click.echo(f"Created 已创建: {user.username} ({user.role}, {user.scope})")


@admin.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def set_password(username: str, password_stdin: bool) -> None:
    """Set a new password; the user's web sessions end.
    设置新密码，该用户的网页登录随即失效。"""
    with _server() as (users, _):
        if users.get(username) is None:
            raise click.ClickException(message("unknown"))
        users.set_password(username, _read_password(password_stdin))
        log_event("password_set", user=username)
    click.echo(f"Password set 密码已更新: {username}")


def _set_active(username: str, active: bool) -> None:
    with _server() as (users, _):
        users.set_active(username, active)
        log_event("user_activated" if active else "user_deactivated", user=username)
    click.echo(f"{'Activated 已启用' if active else 'Deactivated 已停用'}: {username}")


@admin.command()
@click.argument("username")
def deactivate(username: str) -> None:
    """Refuse the account's logins (its records stay).
    停用账号：不能再登录，已有记录保留。"""
    _set_active(username, False)


@admin.command()
@click.argument("username")
def activate(username: str) -> None:
    """Allow a deactivated account to log in again.
    重新启用已停用的账号。"""
    _set_active(username, True)


@admin.command("list-users")
def list_users() -> None:
    """List every account with its role, scope and state.
    列出所有账号及其角色、范围和状态。"""
    with _server() as (accounts, _):
        users = accounts.list_users()
    click.echo("username 用户名\trole 角色\tscope 范围\tactive 启用\tdisplay_name 姓名\tteam 队伍")
    for user in users:
        active = "yes 是" if user.active else "no 否"
        row = [user.username, user.role, user.scope, active, user.display_name, user.team]
        click.echo("\t".join(value or "-" for value in row))


@dataclass
class Row:
    label: str  # where the row is in the file, for error messages
    kind: str  # user, place, team or station
    data: dict[str, Any]


@admin.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--author", default="admin", show_default=True, help="Username recorded as author.")
@click.option(
    "--encoding",
    default="utf-8-sig",
    show_default=True,
    help="Text encoding of the file, e.g. gb18030 for a CSV saved by a Chinese Excel.",
)
def import_file(file: Path, author: str, encoding: str) -> None:
    """Import users, places, teams and stations from a CSV or YAML file; a file with
    any bad row imports nothing.
    从 CSV 或 YAML 导入用户、地区、队伍和服务站；有错误则全部不导入。"""
    _import_rows(read_rows(file, encoding), author, source=file.name)


@admin.command("add")
@click.argument("kind", type=click.Choice(["place", "team", "station"]))
@click.argument("fields", nargs=-1, required=True)
@click.option(
    "--author",
    default="admin",
    show_default=True,
    help="Username recorded as the document's author.",
)
def add(kind: str, fields: tuple[str, ...], author: str) -> None:
    """Add one place, team or station: FIELD=VALUE pairs, checked like an import row
    (e.g. `add place code=422827100001 name_zh=白岩村`).
    逐个添加地区、队伍或服务站。"""
    data = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: 应为 字段=值。 / expected FIELD=VALUE.")
        data[key] = value
    _import_rows([Row("command line 命令行", kind, data)], author, source="command line")


def _import_rows(rows: list[Row], author: str, source: str) -> None:
    """Validate every row, then save all of them or none."""
    with _server() as (users, store):
        specs, docs, errors = check_rows(rows, users, author)
        ids = [doc["_id"] for doc in docs]
        existing = {
            row["id"]: row["doc"]
            for row in (store.all_docs(keys=ids, include_docs=True) if ids else [])
            if row.get("doc")
        }
        for doc in docs:  # a re-imported place, team or station becomes a new revision
            if doc["_id"] in existing:
                doc["_rev"] = existing[doc["_id"]]["_rev"]
                doc["created_at"] = existing[doc["_id"]]["created_at"]
        if errors:
            for error in errors:
                click.echo(error, err=True)
            raise click.ClickException(
                f"{len(errors)} 行有错误，未导入任何数据。 / "
                f"{len(errors)} bad rows; nothing was imported."
            )
        with click.progressbar(length=len(specs), label="users 用户", show_pos=True) as bar:
            users.create_many(specs, progress=bar.update)  # all or none, in one transaction
        failed = _save_docs(store, docs)
        log_event("imported", source=source, users=len(specs), documents=len(docs) - failed)
    click.echo(
        f"Imported 已导入: users 用户 {len(specs)}, documents 文档 {len(docs) - failed} "
        f"(updated 更新 {len(existing)})"
    )
    if failed:
        raise click.ClickException(f"{failed} 个文档未保存。 / {failed} documents not saved.")


def _save_docs(store: Store, docs: list[dict]) -> int:
    failed = 0
    with click.progressbar(length=len(docs), label="documents 文档", show_pos=True) as bar:
        for start in range(0, len(docs), BATCH):
            for row in store.bulk_docs(docs[start : start + BATCH]):
                if not row.get("ok"):
                    failed += 1
                    click.echo(f"\n  not saved 未保存 {row['id']}: {row.get('reason')}", err=True)
            bar.update(len(docs[start : start + BATCH]))
    return failed


def read_rows(file: Path, encoding: str = "utf-8-sig") -> list[Row]:
    """Rows of a CSV file (a `type` column: user, place, team, station) or a YAML file
    (a mapping of sections `users`, `places`, `teams`, `stations` to lists)."""
    suffix = file.suffix.lower()
    try:
        if suffix == ".csv":
            return list(_csv_rows(file, encoding))
        if suffix in (".yaml", ".yml"):
            return list(_yaml_rows(file, encoding))
    except (UnicodeDecodeError, LookupError):
        # Never guess: a wrong guess would store mojibake in every name.
        raise click.ClickException(
            f"文件不是 {encoding} 编码；Excel 请另存为“CSV UTF-8”，或指定 --encoding gb18030。 / "
            f'The file is not {encoding}; save it from Excel as "CSV UTF-8", '
            "or pass --encoding gb18030."
        ) from None
    except (csv.Error, yaml.YAMLError) as exc:
        raise click.ClickException(f"无法读取文件。 / Cannot read the file: {exc}") from None
    raise click.ClickException(
        "文件须为 .csv、.yaml 或 .yml。 / The file must be .csv, .yaml or .yml."
    )


def _csv_rows(file: Path, encoding: str) -> Iterator[Row]:
    with file.open(encoding=encoding, newline="") as stream:  # utf-8-sig: Excel adds a BOM
        reader = csv.DictReader(stream)
        for data in reader:
            line = reader.line_num
            # Empty cells are absent fields: one file holds several kinds of row.
            data = {k.strip(): v.strip() for k, v in data.items() if k and v and v.strip()}
            kind = data.pop("type", "")
            yield Row(f"第 {line} 行 / line {line}", kind, data)


def _yaml_rows(file: Path, encoding: str) -> Iterator[Row]:
    content = yaml.safe_load(file.read_text(encoding=encoding)) or {}
    if (
        not isinstance(content, dict)
        or set(content) - set(SECTIONS)
        or not all(isinstance(items, list | None) for items in content.values())
    ):
        raise click.ClickException(
            "YAML 顶层须为 users、places、teams、stations 列表。 / "
            "The YAML top level must map users, places, teams, stations to lists."
        )
    for section, items in content.items():
        for number, data in enumerate(items or [], start=1):
            label = f"{section} 第 {number} 项 / {section} #{number}"
            yield Row(label, SECTIONS[section], data if isinstance(data, dict) else {})


def check_rows(
    rows: list[Row], users: UserStore, author: str
) -> tuple[list[dict], list[dict], list[str]]:
    """Validate every row: (user specs, documents, one bilingual error per bad row)."""
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    specs: list[dict] = []
    docs: list[dict] = []
    errors: list[str] = []
    seen: set[str] = set()
    for row in rows:
        try:
            if row.kind == "user":
                spec = _user_spec(row.data)
                users.validate_new(**spec)
                key, target = f"user {spec['username']}", specs
                item: dict = spec
            elif row.kind in ("place", "team", "station"):
                item = validate_document(_document(row.kind, row.data, now, author))
                key, target = item["_id"], docs
            else:
                raise ValueError(
                    "type 须为 user、place、team 或 station。 / "
                    "type must be user, place, team or station."
                )
            if key in seen:
                raise ValueError(f"文件中重复：{key}。 / Appears twice in the file: {key}.")
        except (ValueError, TypeError) as exc:
            reason = exc.reason if isinstance(exc, DocumentInvalid) else str(exc)
            errors.append(f"{row.label}: {reason}")
            continue
        seen.add(key)
        target.append(item)
    return specs, docs, errors


def _user_spec(data: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(USER_FIELDS))
    if unknown:
        raise ValueError(
            f"未知字段：{', '.join(unknown)}。 / Unknown fields: {', '.join(unknown)}."
        )
    # YAML reads 422827100001 or 12345678 as numbers; they are meant as text.
    spec = {key: str(value) if isinstance(value, int) else value for key, value in data.items()}
    for key in ("username", "password", "role", "scope"):
        spec.setdefault(key, "")
    return spec


def _document(kind: str, data: dict[str, Any], now: str, author: str) -> dict[str, Any]:
    """A full document from a row: typed values, and the envelope filled in."""
    doc = _typed(kind, data)
    if "id" in doc:
        doc["_id"] = doc.pop("id")
    code = doc.get("code")
    if kind == "place" and is_place_code(code):  # derivable from the code itself
        doc.setdefault("place", code)
        doc.setdefault("level", place_level(code))
        if place_parent(code):
            doc.setdefault("parent", place_parent(code))
    doc.setdefault("_id", f"{kind}:{code if kind == 'place' else doc.get('place')}")
    doc.setdefault("type", kind)
    doc.setdefault("schema_version", CURRENT_VERSIONS[kind])
    doc.setdefault("author", f"user:{author}")
    doc.setdefault("device", "admin-cli")
    doc.setdefault("created_at", now)
    doc.setdefault("updated_at", now)
    return doc


def _typed(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """CSV cells are text and YAML guesses types; convert by each field's declared type."""
    fields = {f.data_key or name: f for name, f in schema_for(kind)._declared_fields.items()}
    return {key: _convert(fields.get(key), value) for key, value in data.items()}


def _convert(field: Any, value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(field, List):
        items = re.split(r"[;；\s]+", value) if isinstance(value, str) else value
        return [_convert(field.inner, item) for item in items or [] if item != ""]
    if isinstance(value, str) and isinstance(field, Int) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if isinstance(value, str) and isinstance(field, Number):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(value, str) and isinstance(field, Bool):
        return {"true": True, "false": False}.get(value.lower(), value)
    if isinstance(value, int) and not isinstance(value, bool) and not isinstance(field, Int):
        return str(value) if not isinstance(field, Number | Bool) else value
    return value
