"""Serve the tablet app at /app/, on the same origin as /db/ (no CORS).

The service worker keeps the app shell for offline use. Its cache is named by the
app's version (a digest of every shell file and the schema export), written into
sw.js as it is served, so any change to the app or to the schemas makes a new
sw.js; the browser installs it in the background and the app offers to switch.
Nothing here needs a session: the shell and the schemas hold no one's data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import mimetypes

from flask import Blueprint, Response, abort, redirect

from schemas.export import export_json

from .build import WEB, missing_assets

bp = Blueprint("field_client", __name__, url_prefix="/app")

SCHEMAS = "schemas.json"
_NOT_SHELL = {"sw.js"}
mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("text/javascript", ".js")


def _shell_files() -> list[str]:
    return sorted(
        path.relative_to(WEB).as_posix()
        for path in WEB.rglob("*")
        if path.is_file() and path.relative_to(WEB).as_posix() not in _NOT_SHELL
    )


@functools.cache
def app_version() -> tuple[str, tuple[str, ...]]:
    """(version, shell files): the version digests every file the shell caches."""
    missing = missing_assets()
    if missing:
        raise RuntimeError(
            f"平板应用尚未构建（缺少 {', '.join(missing)}），请运行 ./dev。 / "
            f"The tablet app is not built ({', '.join(missing)} missing): run ./dev."
        )
    digest = hashlib.sha256(export_json())
    files = _shell_files()
    for name in files:
        digest.update(name.encode())
        digest.update((WEB / name).read_bytes())
    return digest.hexdigest()[:12], (*files, SCHEMAS)


def _fresh(body: bytes | str, mimetype: str) -> Response:
    # The service worker decides what is cached; the HTTP cache must not keep an old shell.
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _built_version() -> tuple[str, tuple[str, ...]]:
    try:
        return app_version()
    except RuntimeError as error:  # an unbuilt app: say how to build it, in the answer
        abort(503, description=str(error))


@bp.get("")
def app_root() -> Response:
    return redirect("/app/", code=308)


@bp.get("/")
def index() -> Response:
    return _fresh((WEB / "index.html").read_bytes(), "text/html")


@bp.get("/sw.js")
def service_worker() -> Response:
    version, files = _built_version()
    source = (WEB / "sw.js").read_text(encoding="utf-8")
    source = source.replace('"__VERSION__"', json.dumps(version))
    source = source.replace('["__SHELL__"]', json.dumps(["./", *files]))
    response = _fresh(source, "text/javascript")
    response.headers["Service-Worker-Allowed"] = "/app/"
    return response


@bp.get("/version.json")
def version() -> Response:
    return _fresh(json.dumps({"version": _built_version()[0]}), "application/json")


@bp.get(f"/{SCHEMAS}")
def schemas() -> Response:
    return _fresh(export_json(), "application/json")


@bp.get("/<path:name>")
def asset(name: str) -> Response:
    path = (WEB / name).resolve()
    if WEB not in path.parents or not path.is_file() or name in _NOT_SHELL:
        abort(404)
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return _fresh(path.read_bytes(), mimetype)
