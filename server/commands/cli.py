"""The `fieldsync` command. Each command mirrors a Python API call."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import click
from flask import Flask

from schemas import DocumentInvalid, validate_document
from schemas.merge import resolver_for
from sync import SqliteStore, Store
from sync.conflicts import resolve_conflicts
from sync.errors import StoreError
from sync.open import open_store
from sync.replicator import DEFAULT_BATCH_SIZE, ReplicationResult
from sync.replicator import replicate as replicate_stores

from ..accounts.users import UserStore
from ..app import create_app
from ..demo_county import DemoCounty
from ..services import services
from .admin import admin
from .serve import host_option, port_option, run_server, serve

BATCH = 500


@click.group()
@click.version_option(package_name="fieldsync")
def main() -> None:
    """fieldsync: offline-first field data for volunteer service teams.
    离线优先的志愿服务现场数据系统。"""


def load_validated(store: Store, docs: Iterable[dict], label: str) -> Counter:
    """Validate each document with `schemas/` and save the valid ones in batches.

    Returns how many of each type were saved; refused ones are reported, never dropped
    silently.
    """
    saved: Counter = Counter()
    docs = list(docs)
    batch: list[dict] = []
    with click.progressbar(docs, label=label, show_pos=True) as bar:
        for doc in bar:
            try:
                batch.append(validate_document(doc))
            except DocumentInvalid as exc:
                click.echo(f"\n  refused 拒收 {doc.get('_id')}: {exc.reason}", err=True)
                continue
            if len(batch) >= BATCH:
                saved += _save(store, batch)
                batch = []
        saved += _save(store, batch)
    return saved


def _save(store: Store, batch: list[dict]) -> Counter:
    saved: Counter = Counter()
    for doc, row in zip(batch, store.bulk_docs(batch), strict=True):
        if row.get("ok"):
            saved[doc["type"]] += 1
        else:
            click.echo(f"  not saved 未保存 {row['id']}: {row['reason']}", err=True)
    return saved


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/demo"),
    show_default=True,
    help="Where the demo county's database is written.",
)
@click.option(
    "--rounds",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="Rounds of field work per village (each: a household, a visit, a patrol).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Demo data seed.")
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Then run the county server on the demo data.",
)
@host_option
@port_option
def demo(data_dir: Path, rounds: int, seed: int, serve: bool, host: str, port: int) -> None:
    """Build a realistic demo county in the embedded store, show what the document
    core guarantees, then serve it. 生成演示县数据，演示核心保证，并启动县级服务器。"""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    county = DemoCounty(seed)
    with SqliteStore(data_dir / "county.sqlite") as store:
        saved = load_validated(store, county.reference(), "reference data 基础数据")
        saved += load_validated(store, county.records(rounds), "field records 现场记录")
        click.echo("\nSaved 已保存: " + ", ".join(f"{t} {n}" for t, n in sorted(saved.items())))
        _show_refusal(county)
        _show_retry(store)
        _show_offline_conflict(store, data_dir)
        info = store.info()
        # the WAL holds recent writes until SQLite checkpoints them into the main file
        size = sum(
            os.path.getsize(path)
            for path in (store.path, store.path + "-wal")
            if os.path.exists(path)
        )
        click.echo(
            f"\nDatabase 数据库: {store.path}  documents {info['doc_count']}, "
            f"update_seq {info['update_seq']}, {size / 1e6:.1f} MB"
        )
    app = create_app({"DATA_DIR": str(data_dir)})
    _create_demo_users(app, county.villages[0].code)
    if serve:
        click.echo(
            f"\nReplicate as a volunteer 以志愿者身份同步: fieldsync replicate "
            f"http://{DEMO_USERS[0][0]}:{DEMO_PASSWORD}@{host}:{port or 5984}/db "
            "tablet.sqlite"
        )
        run_server(app, host, port, threads=8)
    else:
        app.extensions["fieldsync"].close()


DEMO_PASSWORD = "demo-pass-2024"
DEMO_USERS = [  # (username, role, scope: None means the demo village)
    ("xiaowang", "volunteer", None),
    ("laoli", "station_lead", None),
    ("chenke", "county_staff", "422827"),
    ("admin", "admin", "422827"),
]


def _create_demo_users(app: Flask, village: str) -> None:
    with app.app_context():
        users = UserStore(services().db)
        for username, role, scope in DEMO_USERS:
            users.create(username, DEMO_PASSWORD, role, scope or village)
    click.echo(f"\nDemo accounts 演示账号 (password 密码 {DEMO_PASSWORD}):")
    for username, role, scope in DEMO_USERS:
        click.echo(f"  {username:<10} {role:<13} scope 范围 {scope or village}")


@main.command()
@click.argument("source")
@click.argument("target")
@click.option("--both-ways", is_flag=True, help="Sync: SOURCE to TARGET, then back.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Documents per changes/revs_diff/bulk_docs round.",
)
@click.option("--doc-id", "doc_ids", multiple=True, help="Only these documents (repeatable).")
@click.option(
    "--place",
    "places",
    multiple=True,
    help="Only documents in this place code's subtree (repeatable).",
)
@click.option(
    "--resolve", is_flag=True, help="Afterwards, merge conflicts on TARGET with the domain rules."
)
def replicate(
    source: str,
    target: str,
    both_ways: bool,
    batch_size: int,
    doc_ids: tuple[str, ...],
    places: tuple[str, ...],
    resolve: bool,
) -> None:
    """Replicate SOURCE to TARGET (paths of SQLite files or CouchDB URLs).
    从源库复制到目标库（SQLite 文件路径或 CouchDB 地址）。"""
    with open_store(source) as src, open_store(target) as dst:
        pairs = [(src, dst), (dst, src)] if both_ways else [(src, dst)]
        failed = 0
        for a, b in pairs:
            click.echo(f"{a.identity()} -> {b.identity()}", err=True)
            result = replicate_stores(
                a,
                b,
                batch_size=batch_size,
                doc_ids=list(doc_ids) or None,
                place_scope=list(places) or None,
                progress=_show_progress,
            )
            click.echo(
                f"\nread 读取 {result.docs_read}, written 写入 {result.docs_written}, "
                f"failures 失败 {result.doc_write_failures}",
                err=True,
            )
            for failure in result.failures:
                click.echo(
                    f"  {failure.get('id')}: {failure.get('error')} {failure.get('reason')}",
                    err=True,
                )
            failed += result.doc_write_failures
        if resolve:
            merged = resolve_conflicts(dst, resolver_for)
            click.echo(
                f"conflicts merged 冲突已合并 {len(merged.resolved)}, left for a person "
                f"待人工处理 {len(merged.left_for_person)}",
                err=True,
            )
    if failed:
        raise SystemExit(1)


def _show_progress(result: ReplicationResult) -> None:
    click.echo(
        f"\r  batches 批次 {result.batches}  read 读取 {result.docs_read}  "
        f"written 写入 {result.docs_written}  failures 失败 "
        f"{result.doc_write_failures}",
        nl=False,
        err=True,
    )


def _show_refusal(county: DemoCounty) -> None:
    village = county.villages[0]
    bad = county.home_visit(village, county._id("household"))
    bad["visited_at"] = "2024-08-25 09:30"  # no time zone, as an old tablet app sent it
    bad["volunteers"] = []
    try:
        validate_document(bad)
    except DocumentInvalid as exc:
        click.echo(
            "\n1. A bad record is refused with reasons in both languages "
            "错误记录被拒收，并给出中英文原因:"
        )
        for path, message in _flatten(exc.errors):
            click.echo(f"   {path}: {message}")


def _flatten(errors: object, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(errors, dict):
        return [
            item
            for key, value in errors.items()
            for item in _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [(prefix, e) for e in errors]
    if isinstance(errors, list):
        return [item for i, e in enumerate(errors) for item in _flatten(e, f"{prefix}[{i}]")]
    return [(prefix, str(errors))]


def _show_retry(store: Store) -> None:
    row = next(iter(store.all_docs(start_key="patrol:", limit=1, include_docs=True)))
    doc = {**row["doc"], "zone": row["doc"]["zone"] + "（复核）"}
    first = store.put(doc)
    again = store.put(doc)  # the answer was lost on a dropped link; the tablet retries
    click.echo(
        f"\n2. A retried save gives the same revision, not a conflict "
        f"重试保存不会产生冲突: {first} == {again}"
    )


def _show_offline_conflict(store: Store, data_dir: Path) -> None:
    row = next(iter(store.all_docs(start_key="household:", limit=1)))
    doc_id = row["id"]
    tablets = [SqliteStore(data_dir / f"tablet-{n}.sqlite") for n in (1, 2)]
    try:
        for tablet, size in zip(tablets, (3, 4), strict=True):
            _copy(store, tablet, doc_id)  # both tablets took the household to the village
            doc = tablet.get(doc_id)
            tablet.put({**doc, "size": size})  # and changed it with no signal
        for tablet in tablets:
            _copy(tablet, store, doc_id)  # back at the station, both sync
        merged = store.get(doc_id, conflicts=True)
        click.echo(
            "\n3. Two tablets edited the same household offline; both edits are kept "
            "两台平板离线修改同一户，两份修改都被保留:"
        )
        click.echo(
            f"   winner 胜出 {merged['_rev']} (size {merged['size']}), "
            f"conflicts 冲突 {merged.get('_conflicts', [])}"
        )
    finally:
        for tablet in tablets:
            tablet.close()


def _copy(source: Store, target: Store, doc_id: str) -> None:
    """Copy every leaf with its history (the replicator of the next issue does this in bulk)."""
    leaves = [item["ok"] for item in source.open_revs(doc_id, "all") if "ok" in item]
    failures = target.bulk_docs(leaves, new_edits=False)
    if failures:
        raise StoreError(json.dumps(failures, ensure_ascii=False))


main.add_command(admin)
main.add_command(serve)
