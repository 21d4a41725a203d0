"""`fieldsync demo`: build the demo county once, then serve it; never delete what it
did not create.

A new or empty directory gets a fresh demo county and a marker listing the
demo's files (demo_dir.py). Run again, the demo serves the county as it is,
with whatever was added since. `--rebuild` deletes only the marker's files; a
directory holding anything else and no marker is refused.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask
from waitress import create_server

from schemas import DocumentInvalid, validate_document
from sync import SqliteStore, Store

from ..accounts import roster
from ..accounts.users import UserStore
from ..app import create_app
from ..demo_county import COUNTY, DemoCounty
from ..services import services
from .demo_dir import HUB_DIR, MARKER, DemoDir, State
from .demo_tour import show_guarantees, show_write_policy
from .hub import start_link
from .serve import host_option, port_option, run_server, waitress_options

BATCH = 500
DEMO_PASSWORD = "demo-pass-2024"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    display_name: str
    in_village: bool  # scoped to the demo's first village, in its team and station


DEMO_ACCOUNTS = [
    DemoAccount("xiaowang", "volunteer", "王小明", True),
    DemoAccount("laoli", "station_lead", "李建国", True),  # the village station's lead
    DemoAccount("chenke", "county_staff", "陈科", False),
    DemoAccount("admin", "admin", "系统管理员", False),
]


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/demo"),
    show_default=True,
    help="The demo county's directory: new or empty, or one the demo made.",
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
    "--rebuild",
    is_flag=True,
    help="Delete the files the demo made in --data-dir (its marker lists them; accounts "
    "and records added since go with them) and build the demo county again.",
)
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Then run the county server on the demo data.",
)
@host_option
@port_option
def demo(
    data_dir: Path, rounds: int, seed: int, rebuild: bool, serve: bool, host: str, port: int
) -> None:
    """Build a realistic demo county in the embedded store, show what the document
    core guarantees, then serve it; run again, serve it as it is (--rebuild to start
    over). 生成演示县数据并启动县级服务器；再次运行则原样使用已有数据。"""
    directory = DemoDir(data_dir)
    state = directory.state()
    if state is State.FOREIGN:
        raise click.ClickException(
            f"{data_dir} 不是空目录，也没有演示标记文件 {MARKER}，未做任何改动（旧版演示数据请自行"
            f"删除）。 / {data_dir} is not empty and holds no demo marker ({MARKER}); nothing "
            "was changed (delete an older demo's directory yourself)."
        )
    if state is State.UNFINISHED and not rebuild:
        raise click.ClickException(
            f"{data_dir} 中的演示数据不完整（上次生成被中断，或缺少数据库文件）；请加 --rebuild "
            f"重新生成。 / The demo county in {data_dir} is incomplete (a build was interrupted, "
            "or a database is missing); add --rebuild to build it again."
        )
    build = rebuild or state is State.NEW
    if build:
        if state is not State.NEW:
            deleted = directory.remove()
            click.echo(f"Rebuilding 重新生成: deleted 已删除 {', '.join(deleted) or '-'}")
        directory.claim(seed, rounds)
        _build(DemoCounty(seed), rounds, data_dir)
    else:
        _say_kept(directory, seed, rounds)
    app = create_app({"DATA_DIR": str(data_dir)})
    try:
        if build:
            with app.app_context():
                _enrol_demo_accounts(services().store, services().users)
            volunteer, lead = (account.username for account in DEMO_ACCOUNTS[:2])
            show_write_policy(app, volunteer, lead, DEMO_PASSWORD)
            directory.finish()
    except BaseException:
        app.extensions["fieldsync"].close()
        raise
    _serve_or_close(app, serve, host, port)


def _say_kept(directory: DemoDir, seed: int, rounds: int) -> None:
    path = directory.path
    click.echo(
        f"{path} 已有演示县数据，原样使用，之后添加的账号和记录都保留；要重新生成请加 --rebuild"
        f"（只删除演示生成的文件）。 / {path} already holds a demo county, served as it is: "
        "accounts and records added since are kept. To build it again, add --rebuild "
        "(it deletes only the files the demo made)."
    )
    made = directory.settings() or {}
    if (made.get("seed"), made.get("rounds")) != (seed, rounds):
        click.echo(
            f"  --seed/--rounds 只在生成时使用 apply to a build only (this one: seed "
            f"{made.get('seed')}, rounds {made.get('rounds')})"
        )


def _serve_or_close(app: Flask, serve: bool, host: str, port: int) -> None:
    if not serve:
        app.extensions["fieldsync"].close()
        return
    volunteer = DEMO_ACCOUNTS[0].username
    click.echo(
        f"\nTablet app 平板应用: open 在 Chromium 中打开 http://{host}:{port or 5984}/app/ "
        f"and sign in as 并登录 {volunteer} / {DEMO_PASSWORD}"
    )
    click.echo(
        f"\nReplicate as a volunteer 以志愿者身份同步: fieldsync replicate "
        f"http://{DEMO_ACCOUNTS[0].username}:{DEMO_PASSWORD}@{host}:{port or 5984}/db "
        "tablet.sqlite"
    )
    run_server(app, host, port, threads=8, before_close=_start_demo_hub(app, host, port))


def _start_demo_hub(county: Flask, host: str, port: int) -> Callable[[], None]:
    """The demo's station hub: the village station's, in the demo directory's `hub/`,
    served on the next port (plain HTTP: on 127.0.0.1 a browser treats it as secure),
    linked with the demo county as its lead. Not with --port 0 (no port is known yet)."""
    if port == 0:
        click.echo("\n(--port 0: no demo station hub 不启动演示站点)")
        return lambda: None
    hub = create_app({"DATA_DIR": str(Path(county.config["DATA_DIR"]) / HUB_DIR)})
    lead = DEMO_ACCOUNTS[1].username
    stop_link = start_link(hub, f"http://127.0.0.1:{port}/db", lead, DEMO_PASSWORD)
    server = create_server(hub, host=host, port=port + 1, ident="fieldsync-hub",
                           **waitress_options(hub.config, 4))  # fmt: skip
    thread = threading.Thread(target=server.run, name="demo-hub", daemon=True)
    thread.start()
    where = f"http://{host}:{port + 1}"
    click.echo(
        f"\nStation hub 站点服务 ({DEMO_ACCOUNTS[1].display_name}): station page 站点工作台 "
        f"{where}/station/ as 登录 {lead} / {DEMO_PASSWORD}; tablets sync at the station "
        f"平板在站点同步: {where}/app/ (the hub syncs with the county every "
        f"{hub.config['UPSTREAM_IDLE_SECONDS']} s 与县级同步一次)"
    )

    def stop() -> None:
        stop_link()
        server.close()
        hub.extensions["fieldsync"].close()

    return stop


def _build(county: DemoCounty, rounds: int, data_dir: Path) -> None:
    with SqliteStore(data_dir / "county.sqlite") as store:
        saved = load_validated(store, county.reference(), "reference data 基础数据")
        saved += load_validated(store, county.records(rounds), "field records 现场记录")
        click.echo("\nSaved 已保存: " + ", ".join(f"{t} {n}" for t, n in sorted(saved.items())))
        show_guarantees(county, store, data_dir)
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


def _enrol_demo_accounts(store: Store, users: UserStore) -> None:
    """The four demo accounts as roster members, like an admin would enrol them."""
    village = DemoCounty().villages[0].code
    specs = [_spec(account, village) for account in DEMO_ACCOUNTS]
    roster.enrol_many(store, users, specs)
    lead = f"user:{DEMO_ACCOUNTS[1].username}"
    station = store.get(f"station:{village}")
    edit = {"lead": lead, "author": "user:admin", "device": roster.DEVICE}
    store.put(validate_document({**station, **edit, "updated_at": roster.timestamp()}))
    click.echo(f"\nDemo accounts 演示账号 (password 密码 {DEMO_PASSWORD}):")
    for spec in specs:
        line = (
            f"  {spec['username']:<10} {spec['role']:<13} {spec['display_name']:<6} "
            f"scope 范围 {spec['scope']:<13} {spec.get('station', '')}"
        )
        click.echo(line.rstrip())
    click.echo(f"  (station:{village} lead 站长: {lead})")


def _spec(account: DemoAccount, village: str) -> dict:
    spec = {"username": account.username, "password": DEMO_PASSWORD, "role": account.role,
            "display_name": account.display_name, "scope": COUNTY[0]}  # fmt: skip
    if account.in_village:
        spec.update(scope=village, team=f"team:{village}", station=f"station:{village}")
    return spec
