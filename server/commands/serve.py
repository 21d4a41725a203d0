"""`fieldsync serve`: the county server under waitress, a production WSGI server.

Never Flask's development server: it is single-process, unhardened, and warns
so itself. waitress is pure Python (nothing to compile on a county office
machine) and serves each request on one of `--threads` worker threads.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click
from flask import Flask
from waitress import create_server
from waitress.server import BaseWSGIServer as WSGIServer

from ..app import create_app
from ..gateway.feeds import waitress_options
from ..logs import log_event
from ..tls.serving import HttpsServer
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

_certificate_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def tls_options(command: Callable[..., None]) -> Callable[..., None]:
    """--cert and --key: serve HTTPS with a hub certificate (fieldsync admin ca issue-hub)."""
    key = click.option("--key", type=_certificate_file, help="Its private key (hub.key).")
    cert = click.option(
        "--cert", type=_certificate_file, help="Serve HTTPS with this certificate chain (hub.crt)."
    )
    return cert(key(command))


def tls_pair(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """(cert, key) for run_server, None for plain HTTP; one without the other is refused."""
    if (cert is None) != (key is None):
        raise click.UsageError("--cert and --key go together")
    return (cert, key) if cert is not None and key is not None else None


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
@tls_options
@data_dir_option
def serve(
    host: str, port: int, threads: int, cert: Path | None, key: Path | None, data_dir: Path | None
) -> None:
    """Run the county server (configuration: FIELDSYNC_* variables, instance/config.py,
    --data-dir); a directory holding no county is refused (fieldsync admin init makes one).
    With --cert and --key it serves HTTPS. 运行县级服务器；给出证书时使用 HTTPS。"""
    run_server(create_app(existing_county(data_dir)), host, port, threads, tls=tls_pair(cert, key))


def run_server(
    app: Flask,
    host: str,
    port: int,
    threads: int,
    tls: tuple[Path, Path] | None = None,
    before_close: Callable[[], None] = lambda: None,
) -> None:
    """Serve `app` under waitress (or, with `tls` = (cert, key), over HTTPS under cheroot:
    server/tls/serving.py) until SIGTERM or Ctrl-C, then `before_close()` (what else
    uses the app's stores stops), then close its stores."""
    # Waiting feeds get threads of their own besides the `threads` workers.
    options = waitress_options(app.config, threads)
    server: HttpsServer | WSGIServer
    if tls is not None:
        app.config["SESSION_COOKIE_SECURE"] = True  # the session cookie never goes in clear
        server = HttpsServer(app, host, port, threads, *tls)
    else:
        server = create_server(app, host=host, port=port, ident="fieldsync", **options)
    scheme = "https" if tls is not None else "http"
    url = f"{scheme}://{_url_host(host)}:{server.effective_port}"
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
        before_close()
        app.extensions["fieldsync"].close()
        with app.app_context():
            log_event("stopped", url=url)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
