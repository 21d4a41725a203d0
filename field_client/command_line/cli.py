"""The command-line field client: `fieldsync record`, `records`, `sync` and `status`, over
a local SqliteStore (`--db`, `FIELDSYNC_FIELD_DB`, `fieldsync-field.sqlite` here).

`register(group)` adds them to the `fieldsync` group, whose error handling prints any
refusal raised here (`FieldClientError`, a store or file error) as one bilingual line
with exit status 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from schemas import DocumentInvalid, check_entry, error_messages, msg, split_message
from schemas.labels import TYPE_LABELS
from sync.errors import NotFound, PeerUnavailable, StoreError, Unauthorized
from sync.http_client import split_credentials
from sync.open import is_url, open_store
from sync.replicator import ReplicationResult
from sync.store import Store

from . import entry, local
from .local import DB_ENV, DEFAULT_DB, Identity
from .messages import FieldClientError, text
from .states import RECORD_TYPES, STATE_LABELS, STATES, LocalView, RecordView, look
from .syncing import Leg, Progress, SyncSummary, sync_device

db_option = click.option(
    "--db",
    "db_path",
    envvar=DB_ENV,
    default=DEFAULT_DB,
    show_default=True,
    type=click.Path(dir_okay=False),
    help=f"The local database (or ${DB_ENV}). 本机数据库。",
)


@click.command()
@click.argument("doc_type", metavar="TYPE", type=click.Choice(RECORD_TYPES))
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="FIELD=VALUE",
    help="A field (dotted for nested ones: location.lat=29.5; lists as JSON or a,b). 字段值。",
)
@click.option("--unset", "removals", multiple=True, metavar="FIELD", help="Remove a field.")
@click.option(
    "--file",
    "json_file",
    type=click.File("rb"),
    help="A JSON object of fields (--set applies after it). 字段的 JSON 文件。",
)
@click.option("--edit", "doc_id", metavar="DOC_ID", help="Change this record instead of a new one.")
@db_option
def record(
    doc_type: str,
    assignments: tuple[str, ...],
    removals: tuple[str, ...],
    json_file: IO[bytes] | None,
    doc_id: str | None,
    db_path: str,
) -> None:
    """Save a new TYPE record on this device (patrol, water_source, home_visit,
    household), checked by the same schemas as the tablet and the server; nothing is
    saved if any field is refused. Prints the record's id. `--edit DOC_ID` changes one
    (how a refused or returned record is corrected, then sent by `fieldsync sync`).
    在本机保存一条记录（校验不通过则不保存）；--edit 修改已有记录。"""
    given = _read_fields(json_file) if json_file else {}
    sets = [entry.parse_assignment(assignment) for assignment in assignments]
    entry.refuse_client_fields([*given, *(path for path, _ in sets), *removals], doc_type)
    with local.open_local(db_path) as store:
        who = local.require_identity(store)
        if doc_id:
            doc = _editable(store, doc_id, doc_type)
        else:
            doc = entry.new_record(doc_type, who, local.profile(store, who))
        doc.update(given)
        for path, raw in sets:
            entry.set_path(doc, doc_type, path, raw)
        for path in removals:
            entry.unset_path(doc, path)
        try:
            cleaned = check_entry(doc)
        except DocumentInvalid as invalid:
            problems = error_messages(invalid.errors)
            click.echo(text("invalid", count=len(problems)), err=True)
            for path, message in problems:
                click.echo(f"  {_problem(doc_type, path, message)}", err=True)
            raise SystemExit(1) from None
        store.put(cleaned)
    click.echo(cleaned["_id"])


@click.command()
@click.option("--state", type=click.Choice(STATES), help="Only records in this state.")
@click.option("--type", "doc_type", type=click.Choice(RECORD_TYPES), help="Only this type.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, for scripts.")
@db_option
def records(state: str | None, doc_type: str | None, as_json: bool, db_path: str) -> None:
    """List your records on this device, newest first, with their states (saved,
    refused, returned, approved, sent: the same as the tablet app's).
    列出本机上你的记录及其状态（最新的在前）。"""
    with _local_view(db_path) as (_, _, view):
        chosen = [
            shown
            for shown in view.records
            if state in (None, shown.state) and doc_type in (None, shown.doc_type)
        ]
    if as_json:
        click.echo(json.dumps([shown.as_json() for shown in chosen], ensure_ascii=False, indent=1))
        return
    for shown in chosen:
        click.echo(_record_line(shown))
    if not chosen:
        click.echo("没有记录。 / No records.", err=True)


@click.command("sync")
@click.argument("url")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@db_option
def sync_command(url: str, password_stdin: bool, db_path: str) -> None:
    """Sync this device with the county server or a station hub at URL
    (http://NAME[:PASSWORD]@HOST:5984/db; without a password it is asked, hidden):
    push, pull, push. The first sync makes the local database and remembers who you are.
    A refused record does not fail the sync: it is listed, and `records` shows it.
    与县级服务器或服务站同步（先发送、再接收、再确认）。"""
    base, username, password = _sync_url(url)
    if password_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    elif password is None:
        password = click.prompt("密码 / Password", hide_input=True, err=True)
    if not password:
        raise FieldClientError("no_password")
    if Path(db_path).exists():  # another person's database is refused before logging in
        with local.open_local(db_path) as device:
            local.check_owner(device, username)
    # Logged in first: a wrong password at the first sync leaves no empty database behind.
    with (
        _remote(base, username, password) as node,
        local.open_local(db_path, create=True) as device,
    ):
        click.echo(f"{db_path} <-> {base}", err=True)
        who = local.remember_identity(device, username)
        summary = sync_device(device, node, who, _progress())
    click.echo("", err=True)
    _show_summary(summary)


@click.command()
@db_option
def status(db_path: str) -> None:
    """What this device holds: records not sent yet, the last sync and its summary,
    refusals with the server's reasons, conflicts.
    本机状态：未发送的记录、上次同步、被拒收的记录及原因、冲突。"""
    with _local_view(db_path) as (store, who, view):
        state = local.sync_state(store)
    click.echo(f"本机用户 / user: {who.username}   设备 / device: {who.device}")
    counts = "，".join(f"{STATE_LABELS[s][0]} {len(view.in_state(s))}" for s in STATES)
    counts_en = ", ".join(f"{s} {len(view.in_state(s))}" for s in STATES)
    click.echo(
        f"记录 {len(view.records)} 条：{counts}。 / Records {len(view.records)}: {counts_en}."
    )
    unsent = len(view.in_state("saved"))
    click.echo(f"未发送 {unsent} 条。 / Not sent yet: {unsent}.")
    if "last_sync" in state:
        summary = SyncSummary(**state["summary"])
        click.echo(f"上次同步 / last sync: {state['last_sync']}")
        click.echo(f"  {_summary_line(summary)}")
    else:
        click.echo("从未完整同步过。 / Never synced completely.")
    refused = view.in_state("refused")
    click.echo(f"被拒收 {len(refused)} 条。 / Refused: {len(refused)}.")
    for shown in refused:
        click.echo(f"  {shown.doc_id} {_type_label(shown.doc_type)}")
        for reason in shown.reasons:
            click.echo(f"    {reason}")
    for notice in view.other_notices:
        click.echo(f"  通知 / notice: {notice.get('about')}")
        for reason in notice.get("reasons") or ():
            click.echo(f"    {reason}")
    click.echo(f"冲突 {len(view.conflicted)} 条。 / Conflicts: {len(view.conflicted)}.")
    for doc_id, revs in sorted(view.conflicted.items()):
        click.echo(f"  {doc_id}: {', '.join(revs)}")


def register(group: click.Group) -> None:
    """Add the field client's commands to the `fieldsync` group."""
    for command in (record, records, sync_command, status):
        group.add_command(command)


# -- record ---------------------------------------------------------------------------------


def _read_fields(json_file: IO[bytes]) -> dict[str, Any]:
    name = getattr(json_file, "name", "-")
    try:
        fields = json.loads(json_file.read().decode("utf-8-sig"))
    except json.JSONDecodeError as error:
        raise FieldClientError("file_not_json", path=name, line=error.lineno) from None
    except UnicodeDecodeError:
        raise FieldClientError("file_not_json", path=name, line=1) from None
    if not isinstance(fields, dict):
        raise FieldClientError("file_not_object", path=name)
    return fields


def _editable(store: Store, doc_id: str, doc_type: str) -> dict[str, Any]:
    """The record `doc_id` as stored, its `updated_at` now."""
    try:
        doc = store.get(doc_id)
    except NotFound:
        raise FieldClientError("no_record", doc_id=doc_id) from None
    if doc.get("type") != doc_type:
        raise FieldClientError(
            "wrong_type", doc_id=doc_id, actual=doc.get("type"), expected=doc_type
        )
    review = doc.get("review")
    if isinstance(review, Mapping) and review.get("state") == "approved":
        # The server would refuse it (approval closes a record to the field): say so now.
        raise ValueError(msg("push_approved"))
    return {**doc, "updated_at": local.now()}


def _problem(doc_type: str, path: str, message: str) -> str:
    """One refused field: its path and label, then the schema's message, Chinese first."""
    label = entry.label_of(doc_type, path)
    halves = split_message(message)
    zh = f"{path}（{label[0]}）" if label else path
    en = f"{path} ({label[1]})" if label else path
    return f"{zh}：{halves['zh']} / {en}: {halves['en']}"


# -- records and status ---------------------------------------------------------------------


@contextmanager
def _local_view(db_path: str) -> Iterator[tuple[Store, Identity, LocalView]]:
    with local.open_local(db_path) as store:
        who = local.require_identity(store)
        yield store, who, look(store, who, local.push_seq(store))


def _type_label(doc_type: str) -> str:
    zh, en = TYPE_LABELS[doc_type]
    return f"{zh}/{en}"


def _record_line(shown: RecordView) -> str:
    zh, en = STATE_LABELS[shown.state]
    line = f"{shown.doc_id}  {_type_label(shown.doc_type)}  {zh} / {en}  {shown.updated_at}"
    if shown.reasons:
        line += f"  {shown.reasons[0]}"
    if shown.comment:
        line += f"  审核意见 / comment: {shown.comment}"
    return line


# -- sync -----------------------------------------------------------------------------------

LEG_LABELS: dict[Leg, str] = {
    "push": "发送 / sending",
    "pull": "接收 / receiving",
    "confirm": "确认 / confirming",
}


def _sync_url(url: str) -> tuple[str, str, str | None]:
    if not is_url(url):
        raise FieldClientError("not_a_url")
    base, username, password = split_credentials(url)
    if not username:
        raise FieldClientError("url_without_user")
    return base, username, password


@contextmanager
def _remote(base: str, username: str, password: str) -> Iterator[Store]:
    """The node at `base`, logged in; its failures as one line saying nothing is lost."""
    try:
        with open_store(base, create=False, username=username, password=password) as node:
            node.info()  # logs in now, before anything else is done
            yield node
    except Unauthorized:
        raise FieldClientError("auth_failed") from None
    except PeerUnavailable:
        raise FieldClientError("unreachable") from None
    except StoreError as error:
        raise FieldClientError("sync_failed", reason=" ".join(error.reason.split())) from None


def _progress() -> Progress:
    """A progress line per leg, rewritten in place."""
    shown: list[Leg] = []

    def show(leg: Leg, result: ReplicationResult) -> None:
        if shown and shown[-1] != leg:
            click.echo("", err=True)
        shown[:] = [leg]
        click.echo(
            f"\r  {LEG_LABELS[leg]}: 批次 batches {result.batches}, 写入 written "
            f"{result.docs_written}, 拒收 refused {result.doc_write_failures}",
            nl=False,
            err=True,
        )

    return show


def _summary_line(summary: SyncSummary) -> str:
    return (
        f"发送 {summary.sent} 条，接收 {summary.received} 条，被拒收 {summary.refused} 条，"
        f"冲突 {summary.conflicts} 条。 / Sent {summary.sent}, received {summary.received}, "
        f"refused {summary.refused}, conflicts {summary.conflicts}."
    )


def _show_summary(summary: SyncSummary) -> None:
    click.echo(_summary_line(summary))
    for row in summary.refusals:
        click.echo(f"  拒收 / refused {row.get('id')}: {row.get('reason') or row.get('error')}")
