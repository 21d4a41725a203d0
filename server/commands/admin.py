"""`fieldsync admin`: accounts and reference data, run on the county server.

Each command opens the county the server is configured for (FIELDSYNC_* and
instance/config.py, as `fieldsync serve` reads them, or `--data-dir`), says on
stderr which one, and refuses a directory holding no county (`admin init`
makes one on purpose). Accounts are the roster: creating one writes the
person's `user:` document too (server/accounts/roster.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sync.store import Store

from ..accounts import roster
from ..accounts.users import ROLES, message
from ..logs import log_event
from .certificates import ca
from .county import County, create_county, data_dir_option, open_county
from .importing import Row, check_rows, read_rows

BATCH = 500
author_option = click.option(
    "--author", default="admin", show_default=True, help="Username recorded as author."
)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:  # for scripts: the first line of stdin, without its newline
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password 密码", hide_input=True, confirmation_prompt="Repeat 再次输入密码")


@click.group()
def admin() -> None:
    """Manage accounts and reference data on the county server; every subcommand
    takes --data-dir. 管理县级服务器上的账号和基础数据。"""


admin.add_command(ca)


@admin.command()
@data_dir_option
def init(data_dir: Path | None) -> None:
    """Create a new, empty county in a new or empty data directory (nothing is changed
    where a county is already). 新建一个空的县级数据目录。"""
    where, created = create_county(data_dir)
    if not created:
        click.echo(f"已有县级数据，未做任何改动 Already a county, nothing changed: {where}")
        return
    log_event("county_created", data_dir=where)
    click.echo(f"已新建县级数据 Created a county: {where}")
    click.echo(
        "下一步 Next: fieldsync admin import FILE（地区、队伍、服务站、用户 / "
        "places, teams, stations, users）"
    )


@admin.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="The account's role.")
@click.option(
    "--scope", required=True, help="Code of a place in the county the user may see (6-15 digits)."
)
@click.option(
    "--display-name", help="The person's name, e.g. 田秀英 (required unless user:USERNAME exists)."
)
@click.option("--team", help="Team document id at or above the scope, e.g. team:422827100001.")
@click.option(
    "--station", help="Station document id at or above the scope, e.g. station:422827100001."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@author_option
@data_dir_option
def create_user(
    username: str,
    role: str,
    scope: str,
    display_name: str | None,
    team: str | None,
    station: str | None,
    password_stdin: bool,
    author: str,
    data_dir: Path | None,
) -> None:
    """Put a person on the roster: their user:USERNAME document (linked if it exists),
    then their login account; the password is asked twice, hidden.
    创建用户文档和登录账号（密码隐藏输入两次）。"""
    spec = dict(username=username, role=role, scope=scope, display_name=display_name,
                team=team, station=station, author=author)  # fmt: skip
    with open_county(data_dir) as county:
        # Refuse a bad role, scope, team or station before anyone types a password.
        errors = roster.check_enrolments(
            county.store, county.users, [{**spec, "password": "x" * 8}]
        )
        if errors:
            raise click.ClickException(errors[0])
        user = roster.enrol(county.store, county.users, password=_read_password(password_stdin),
                            **spec)  # fmt: skip
        log_event("user_created", user=user.username, role=user.role, scope=user.scope)
    click.echo(f"Created 已创建: {user.username} ({user.role}, {user.scope}, {user.display_name})")


@admin.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@data_dir_option
def set_password(username: str, password_stdin: bool, data_dir: Path | None) -> None:
    """Set a new password; the user's web sessions end.
    设置新密码，该用户的网页登录随即失效。"""
    with open_county(data_dir) as county:
        if county.users.get(username) is None:
            raise click.ClickException(message("unknown"))
        county.users.set_password(username, _read_password(password_stdin))
        log_event("password_set", user=username)
    click.echo(f"Password set 密码已更新: {username}")


def _set_active(username: str, active: bool, author: str, data_dir: Path | None) -> None:
    with open_county(data_dir) as county:
        linked = roster.set_active(county.store, county.users, username, active, author=author)
        log_event("user_activated" if active else "user_deactivated", user=username)
    click.echo(f"{'Activated 已启用' if active else 'Deactivated 已停用'}: {username}")
    if not linked:
        click.echo(f"  没有用户文档 no user document: user:{username}", err=True)


@admin.command()
@click.argument("username")
@author_option
@data_dir_option
def deactivate(username: str, author: str, data_dir: Path | None) -> None:
    """Refuse the account's logins and mark its user document inactive (its records stay).
    停用账号：不能再登录，已有记录保留。"""
    _set_active(username, False, author, data_dir)


@admin.command()
@click.argument("username")
@author_option
@data_dir_option
def activate(username: str, author: str, data_dir: Path | None) -> None:
    """Allow a deactivated account to log in again, and mark its user document active.
    重新启用已停用的账号。"""
    _set_active(username, True, author, data_dir)


@admin.command("list-users")
@data_dir_option
def list_users(data_dir: Path | None) -> None:
    """List every account with its role, scope, state, name, team and station (from
    its user document). 列出所有账号及其角色、范围、状态、姓名、队伍和服务站。"""
    with open_county(data_dir) as county:
        users = county.users.list_users()
        docs = _user_documents(county, [user.username for user in users])
    click.echo(
        "username 用户名\trole 角色\tscope 范围\tactive 启用\tdisplay_name 姓名\tteam 队伍"
        "\tstation 服务站"
    )
    for user in users:
        doc = docs.get(f"user:{user.username}")
        active = "yes 是" if user.active else "no 否"
        name = doc["display_name"] if doc else user.display_name
        station = doc.get("station") if doc else "(no user document 无用户文档)"
        row = [user.username, user.role, user.scope, active, name, user.team, station]
        click.echo("\t".join(value or "-" for value in row))


def _user_documents(county: County, usernames: list[str]) -> dict[str, dict]:
    if not usernames:
        return {}
    rows = county.store.all_docs(keys=[f"user:{name}" for name in usernames], include_docs=True)
    return {row["id"]: row["doc"] for row in rows if row.get("doc")}


@admin.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@author_option
@click.option(
    "--encoding",
    default="utf-8-sig",
    show_default=True,
    help="Text encoding of the file, e.g. gb18030 for a CSV saved by a Chinese Excel.",
)
@data_dir_option
def import_file(file: Path, author: str, encoding: str, data_dir: Path | None) -> None:
    """Import users, places, teams and stations from a CSV or YAML file; a file with
    any bad row imports nothing. Each user row enrols a person: user document, then
    account. 从 CSV 或 YAML 导入用户、地区、队伍和服务站；有错误则全部不导入。"""
    _import_rows(read_rows(file, encoding), author, file.name, data_dir)


@admin.command("add")
@click.argument("kind", type=click.Choice(["place", "team", "station"]))
@click.argument("fields", nargs=-1, required=True)
@author_option
@data_dir_option
def add(kind: str, fields: tuple[str, ...], author: str, data_dir: Path | None) -> None:
    """Add one place, team or station: FIELD=VALUE pairs, checked like an import row
    (e.g. `add place code=422827100001 name_zh=白岩村`).
    逐个添加地区、队伍或服务站。"""
    data = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: 应为 字段=值。 / expected FIELD=VALUE.")
        data[key] = value
    _import_rows([Row("command line 命令行", kind, data)], author, "command line", data_dir)


def _import_rows(rows: list[Row], author: str, source: str, data_dir: Path | None) -> None:
    """Check every row (user rows against the county, with this file's documents as
    existing), then save the documents and enrol the users, or nothing at all."""
    checked = check_rows(rows, author)
    with open_county(data_dir) as county:
        refused = roster.check_enrolments(
            county.store, county.users, checked.specs, pending=checked.docs
        )
        for index, reason in refused.items():
            checked.errors[checked.spec_rows[index]] = reason
        if checked.errors:
            for index in sorted(checked.errors):
                click.echo(f"{rows[index].label}: {checked.errors[index]}", err=True)
            count = len(checked.errors)
            raise click.ClickException(
                f"{count} 行有错误，未导入任何数据。 / {count} bad rows; nothing was imported."
            )
        updated = _carry_revisions(county.store, checked.docs)
        # Documents first: the users' documents name these places, teams and stations.
        failed = _save_docs(county.store, checked.docs)
        if failed:
            raise click.ClickException(
                f"{failed} 个文档未保存，未创建用户。 / {failed} documents not saved; "
                "no user was created."
            )
        with click.progressbar(length=len(checked.specs), label="users 用户", show_pos=True) as bar:
            roster.enrol_many(county.store, county.users, checked.specs, pending=checked.docs,
                              progress=bar.update)  # fmt: skip
        log_event("imported", source=source, users=len(checked.specs), documents=len(checked.docs))
    click.echo(
        f"Imported 已导入: users 用户 {len(checked.specs)}, documents 文档 {len(checked.docs)} "
        f"(updated 更新 {updated})"
    )


def _carry_revisions(store: Store, docs: list[dict]) -> int:
    """A re-imported place, team or station becomes a new revision of the stored one."""
    ids = [doc["_id"] for doc in docs]
    rows = store.all_docs(keys=ids, include_docs=True) if ids else []
    existing = {row["id"]: row["doc"] for row in rows if row.get("doc")}
    for doc in docs:
        if doc["_id"] in existing:
            doc["_rev"] = existing[doc["_id"]]["_rev"]
            doc["created_at"] = existing[doc["_id"]]["created_at"]
    return len(existing)


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
