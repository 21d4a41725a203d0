"""`fieldsync hub`: a station hub on the lead's laptop. The county's own gateway (one
implementation) over the hub's embedded store, serving /db/ and the tablet app to the
station's tablets, plus the link that replicates both ways with the county as the lead
whenever it is reachable (server/hub/upstream.py)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask

from sync.http_client import split_credentials
from sync.open import open_store

from ..app import create_app
from ..hub.accounts import accounts_url
from ..hub.station_work import to_send
from ..hub.upstream import Round, Upstream
from ..logs import log_event
from .county import create_county, data_dir_option, existing_county
from .serve import host_option, port_option, run_server, tls_options, tls_pair

DEFAULT_HUB_DIR = Path("data/hub")


@click.command()
@click.argument("county_url")
@host_option
@port_option
@tls_options
@click.option("--password-stdin", is_flag=True, help="Read the lead's password from stdin.")
@data_dir_option
def hub(
    county_url: str,
    host: str,
    port: int,
    cert: Path | None,
    key: Path | None,
    password_stdin: bool,
    data_dir: Path | None,
) -> None:  # fmt: skip
    """Run a station hub: the tablets of the station sync with it over the LAN (HTTPS with
    --cert and --key), and it syncs with COUNTY_URL (the county's /db as the station
    lead, e.g. https://laoli@county.example/db) whenever the county is reachable.
    运行站点服务：本站平板在局域网内与之同步，联网时它以站长身份与县级服务器双向同步。

    \b
    Setting a hub up from nothing 从零开始设置站点服务 (once, in coverage 在有网络时):
    1. County IT issues the hub's certificate 县级信息员签发证书:
       fieldsync admin ca issue-hub --dir CA --out hub-cert
         --name hub.station.lan --ip 192.168.8.10
       and installs CA/county-ca.crt on every tablet 并在每台平板上安装县级根证书
       (docs/operations.md).
    2. On the laptop 在站长笔记本上:
       fieldsync hub https://LEAD@county.example/db --data-dir ~/fieldsync-hub
         --host 0.0.0.0 --port 8443 --cert hub-cert/hub.crt --key hub-cert/hub.key
       (the lead's password is asked 输入站长密码).
    3. Wait for the first round with the county 等待首次同步 (the log's "upstream" line,
       ok true): the station's accounts, places and people are on the hub now.
    4. Tablets open 平板打开 https://hub.station.lan:8443/app/ and sign in with their
       county accounts 用县里建的账号登录; the lead opens 站长打开
       https://hub.station.lan:8443/station/.
    The hub's data lives in --data-dir (default: FIELDSYNC_DATA_DIR, else data/hub).
    Every evening, run the same command 之后每天运行同一命令: it syncs with the county
    whenever it can, and the tablets sync with it with no internet.
    """
    tls = tls_pair(cert, key)
    url, username, password = split_credentials(county_url)
    if not username:
        raise click.UsageError("COUNTY_URL names the lead: https://LEAD@HOST/db")
    if password is None:
        password = (
            sys.stdin.readline().rstrip("\r\n")
            if password_stdin
            else click.prompt("Lead's password 站长密码", hide_input=True)
        )
    if data_dir is None and "FIELDSYNC_DATA_DIR" not in os.environ:
        data_dir = DEFAULT_HUB_DIR  # never the county's own default directory
    create_county(data_dir)  # the hub's own store, made on first use
    app = create_app(existing_county(data_dir))
    stop = start_link(app, url, username, password)
    run_server(app, host, port, threads=8, tls=tls, before_close=stop)


def start_link(app: Flask, county_db: str, username: str, password: str) -> Callable[[], None]:
    """Run the hub `app`'s link with the county (its /db at `county_db`, as the lead
    `username`) in a thread of its own, each round logged; returns what stops it."""
    found = app.extensions["fieldsync"]
    county_accounts = accounts_url(county_db)
    link = Upstream(
        found.store,
        lambda: open_store(county_db, username=username, password=password),
        accounts=(
            found.accounts,
            lambda: open_store(county_accounts, create=False, username=username,
                               password=password),
        ),
        idle_seconds=float(app.config["UPSTREAM_IDLE_SECONDS"]),
        station_work=lambda: to_send(found),
    )  # fmt: skip
    stop = threading.Event()

    def reported(done: Round) -> None:
        with app.app_context():
            log_event("upstream", ok=done.ok, sent=done.sent, received=done.received,
                      accounts=done.accounts, refused=len(done.refused),
                      error=done.error)  # fmt: skip

    thread = threading.Thread(target=link.run, args=(stop, reported), daemon=True)
    thread.start()

    def stopped() -> None:
        stop.set()
        thread.join(timeout=30)

    return stopped
