"""`fieldsync hub`: a station hub on the lead's laptop. The county's own gateway (one
implementation) over the hub's embedded store, serving /db/ and the tablet app to the
station's tablets, plus the link that replicates both ways with the county as the lead
whenever it is reachable (server/hub/upstream.py)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from sync.http_client import split_credentials
from sync.open import open_store

from ..app import create_app
from ..hub.accounts import accounts_url
from ..hub.upstream import Round, Upstream
from ..logs import log_event
from .county import create_county, data_dir_option, existing_county
from .serve import host_option, port_option, run_server, tls_options, tls_pair


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
    运行站点服务：本站平板在局域网内与之同步，联网时它以站长身份与县级服务器双向同步。"""
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
    create_county(data_dir)  # the hub's own store, made on first use
    app = create_app(existing_county(data_dir))
    found = app.extensions["fieldsync"]
    county_accounts = accounts_url(url)
    link = Upstream(
        found.store,
        lambda: open_store(url, username=username, password=password),
        accounts=(
            found.accounts,
            lambda: open_store(county_accounts, create=False, username=username, password=password),
        ),
    )
    stop = threading.Event()

    def reported(done: Round) -> None:
        with app.app_context():
            log_event("upstream", ok=done.ok, sent=done.sent, received=done.received,
                      accounts=done.accounts, refused=len(done.refused),
                      error=done.error)  # fmt: skip

    thread = threading.Thread(target=link.run, args=(stop, reported), daemon=True)
    thread.start()
    try:
        run_server(app, host, port, threads=8, tls=tls)
    finally:
        stop.set()
        thread.join(timeout=30)
