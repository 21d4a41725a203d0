"""The server-level endpoints CouchDB clients call before they open a database.

`GET /` (the welcome: version and vendor, as CouchDB's), `GET /_up`, `GET /_all_dbs`
(the one logical database every user has, `db`), `GET /_uuids`. Anything about one
database lives under `/db` (`gateway/`).
"""

from __future__ import annotations

import uuid
from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, Response

from .accounts.auth import login_required
from .http_io import int_arg, reply
from .services import services

bp = Blueprint("couchdb_root", __name__)

COUCHDB_VERSION = "3.5.0"  # the CouchDB API the gateway answers as
FEATURES = ["access-ready", "partitioned", "pluggable-storage-engines", "reshard", "scheduler"]


def _our_version() -> str:
    try:
        return version("fieldsync")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


@bp.get("/")
def welcome() -> Response:
    with services().db.read() as conn:
        (server_uuid,) = conn.execute("SELECT value FROM meta WHERE key = 'uuid'").fetchone()
    return reply(
        {
            "couchdb": "Welcome",
            "version": COUCHDB_VERSION,
            "git_sha": "fieldsync",
            "uuid": server_uuid,
            "features": FEATURES,
            "vendor": {"name": "fieldsync", "version": _our_version()},
        }
    )


@bp.get("/_up")
def up() -> Response:
    return reply({"status": "ok", "seeds": {}})


@bp.get("/_all_dbs")
@login_required
def all_dbs() -> Response:
    skip, limit = int_arg("skip", 0), int_arg("limit", 1)
    return reply(["db"][skip : skip + limit])


@bp.get("/_uuids")
def uuids() -> Response:
    count = int_arg("count", 1, low=1, high=1000)
    return reply({"uuids": [uuid.uuid4().hex for _ in range(count)]})
