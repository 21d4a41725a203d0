"""The Flask application factory (the flaskr pattern: defaults, then the instance
file and FIELDSYNC_* environment variables, then each subsystem's init_app)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from . import auth, gateway, health, logs, services

DEFAULTS: dict[str, object] = {
    "DATA_DIR": "data/county",
    "COUCHDB_URL": None,  # set to use CouchDB instead of the embedded store
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,  # one request body, gzip included
    "SESSION_HOURS": 12,  # lifetime of a signed web session cookie
    "LOGIN_MAX_FAILURES": 5,  # failed logins per user and address ...
    "LOGIN_WINDOW_SECONDS": 600,  # ... per this window, then 429
    "LONGPOLL_SECONDS": 55,  # longest wait of a longpoll _changes
}


def create_app(test_config: Mapping | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("FIELDSYNC")
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _persistent_secret(Path(app.config["DATA_DIR"]))
    services.init_app(app)
    logs.init_app(app)
    auth.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(gateway.bp)
    return app


def _persistent_secret(data_dir: Path) -> str:
    """A signing key kept in the data directory, so sessions survive a restart."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
