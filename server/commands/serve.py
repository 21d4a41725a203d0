"""`fieldsync serve`: the county server under waitress, a production WSGI server.

Never Flask's development server: it is single-process, unhardened, and warns
so itself. waitress is pure Python (nothing to compile on a county office
machine) and serves each request on one of `--threads` worker threads.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click
from flask import Flask
from waitress import create_server

from ..app import create_app
from ..gateway.feeds import waitress_options
from ..logs import log_event
from .county import data_dir_option, existing_county


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # waitress's loop stops on it as on Ctrl-C


host_option = click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
)
port_option = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5984,
    show_default=True,
    help="Port to listen on (CouchDB's; 0 picks a free one).",
)


@click.command()
@host_option
@port_option
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Worker threads: requests served at once (waiting feeds have threads of their "
    "own, FIELDSYNC_FEED_SLOTS).",
)
@data_dir_option
def serve(host: str, port: int, threads: int, data_dir: Path | None) -> None:
    """Run the county server (configuration: FIELDSYNC_* variables, instance/config.py,
    --data-dir); a directory holding no county is refused (fieldsync admin init makes one).
    运行县级服务器。"""
    run_server(create_app(existing_county(data_dir)), host, port, threads)


def run_server(app: Flask, host: str, port: int, threads: int) -> None:
    """Serve `app` under waitress until SIGTERM or Ctrl-C, then close its stores."""
    # Waiting feeds get threads of their own besides the `threads` workers.
    options = waitress_options(app.config, threads)
    server = create_server(app, host=host, port=port, ident="fieldsync", **options)
    url = f"http://{_url_host(host)}:{server.effective_port}"
    signal.signal(signal.SIGTERM, _stop)
    with app.app_context():
        log_event(
            "serving",
            url=url,
            threads=threads,
            feed_threads=int(options["threads"]) - threads,  # type: ignore[call-overload]
            data_dir=str(app.config["DATA_DIR"]),
        )
    click.echo(f"Serving 服务地址 {url}  (Ctrl-C to stop 按 Ctrl-C 停止)", err=True)
    try:
        server.run()  # returns on SIGTERM or Ctrl-C, once the worker threads stopped
    finally:
        server.close()
        app.extensions["fieldsync"].close()
        with app.app_context():
            log_event("stopped", url=url)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
