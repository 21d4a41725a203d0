"""The Flask application factory (the flaskr pattern: defaults, then the instance
file and FIELDSYNC_* environment variables, then each subsystem's init_app)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from field_client.tablet_app.serve import bp as tablet_app
from sync.errors import StoreError

from . import couchdb_root, health, logs, services, staff
from .accounts import auth, station_accounts
from .gateway import routes as gateway
from .gateway.feeds import DEFAULT_FEED_SLOTS
from .http_io import reply, store_error
from .logs import log_event
from .station import page as station_page

DEFAULTS: dict[str, object] = {
    "DATA_DIR": "data/county",
    "COUCHDB_URL": None,  # set to use CouchDB instead of the embedded store
    "COUCHDB_GZIP": False,  # compress requests to CouchDB and ask for compressed answers
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,  # one request body, gzip included
    "SESSION_HOURS": 12,  # lifetime of a signed web session cookie
    "LOGIN_MAX_FAILURES": 5,  # failed logins per user and address ...
    "LOGIN_WINDOW_SECONDS": 600,  # ... per this window, then 429
    "LONGPOLL_SECONDS": 55,  # longest a waiting _changes feed is held; clients reconnect
    "FEED_SLOTS": DEFAULT_FEED_SLOTS,  # _changes feeds that may wait at once (threads of their own)
    # Bounds on one push and one device (server/gateway/push.py): beyond them a push is
    # refused whole and summarised, never copied document by document.
    "MAX_BULK_DOCS": 10_000,  # documents in one request (CouchDB's max_bulk_docs_count)
    "MAX_REFUSALS_PER_PUSH": 100,  # refused documents one push may leave (413 beyond)
    "REFUSALS_PER_HOUR": 1_000,  # refused documents one device may leave an hour (429)
    "MAX_NOTICES_PER_USER": 200,  # live rejection notices a user's tablets get
    "UPSTREAM_IDLE_SECONDS": 120,  # a hub's wait between good rounds with the county
    "TIMEZONE": "Asia/Shanghai",  # the station page's "today" and "this week"
}


def load_config(overrides: Mapping | None = None) -> dict[str, object]:
    """The server's configuration: defaults, then `instance/config.py`, then FIELDSYNC_*
    environment variables, then `overrides` (a command's options). Read without creating
    an app, so a command can look before anything is made."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("FIELDSYNC")
    app.config.from_mapping(overrides or {})
    return dict(app.config)


def create_app(test_config: Mapping | None = None) -> Flask:
    """The county server. Its configuration is `load_config()`, or, for tests,
    `test_config` over the defaults alone (nothing read from the machine)."""
    app = Flask(__name__, instance_relative_config=True)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable
    if test_config is None:
        app.config.from_mapping(load_config())
    else:
        app.config.from_mapping({**DEFAULTS, **test_config})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _persistent_secret(Path(app.config["DATA_DIR"]))
    services.init_app(app)
    logs.init_app(app)
    auth.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(couchdb_root.bp)
    app.register_blueprint(gateway.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(station_accounts.bp)
    app.register_blueprint(station_page.bp)
    app.register_blueprint(tablet_app)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StoreError, store_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _unexpected_error(exc: Exception) -> Response:
    """A bug: logged with its type (never the request's data), answered as JSON 500."""
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log_event("unexpected_error", error=type(exc).__name__, path=request.path)
    return reply(
        {"error": "internal_server_error", "reason": "the server failed; the error is logged"}, 500
    )


def _http_error(exc: HTTPException) -> Response:
    """Every error as CouchDB's JSON, never an HTML page; a 413 states the limit."""
    reason = exc.description or exc.name
    if exc.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        reason = f"the request body is larger than the limit of {limit} bytes"
    name = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        429: "too_many_requests",
    }.get(exc.code or 500, "error")
    return reply({"error": name, "reason": reason}, exc.code or 500)


def _persistent_secret(data_dir: Path) -> str:
    """A signing key kept in the data directory, so sessions survive a restart."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
