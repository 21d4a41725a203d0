"""How the county serves the tablet app: the shell, the versioned service worker, the
schemas, and nothing outside field_client/web/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from field_client.tablet_app import serve
from schemas.export import export_json


@pytest.fixture
def fresh_version() -> Iterator[None]:
    serve.app_version.cache_clear()
    yield
    serve.app_version.cache_clear()


def _shell(client: FlaskClient) -> tuple[str, list[str]]:
    source = client.get("/app/sw.js").get_data(as_text=True)
    version = json.loads(source.split("const VERSION = ", 1)[1].split(";", 1)[0])
    shell = json.loads(source.split("const SHELL = ", 1)[1].split(";", 1)[0])
    return version, shell


def test_the_shell_is_served_without_a_session(client: FlaskClient) -> None:
    assert client.get("/app").status_code == 308
    page = client.get("/app/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Cache-Control"] == "no-cache"
    assert "志愿服务记录" in page.get_data(as_text=True)
    manifest = client.get("/app/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    assert manifest.get_json()["start_url"] == "/app/"


def test_the_service_worker_names_its_version_and_every_shell_file(client: FlaskClient) -> None:
    worker = client.get("/app/sw.js")
    assert worker.mimetype == "text/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/app/"
    version, shell = _shell(client)
    assert len(version) == 12 and "__VERSION__" not in worker.get_data(as_text=True)
    assert {"./", "js/main.js", "js/validator.js", "vendor/pouchdb.min.js", "schemas.json"} <= set(
        shell
    )
    assert "sw.js" not in shell
    for name in shell:
        answer = client.get("/app/" if name == "./" else f"/app/{name}")
        assert answer.status_code == 200, name


def test_the_schemas_are_the_export(client: FlaskClient) -> None:
    assert client.get("/app/schemas.json").get_data() == export_json()


@pytest.mark.parametrize(
    "path", ["/app/../server/app.py", "/app/%2e%2e/setup.py", "/app/nothing.js"]
)
def test_nothing_outside_the_app_is_served(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_a_changed_file_is_a_new_version(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_version: None
) -> None:
    copy = tmp_path / "web"
    shutil.copytree(serve.WEB, copy)
    monkeypatch.setattr(serve, "WEB", copy)
    before, _ = _shell(client)
    serve.app_version.cache_clear()
    assert _shell(client)[0] == before  # the same files: the same version
    (copy / "app.css").write_text((copy / "app.css").read_text() + "\n/* changed */\n")
    serve.app_version.cache_clear()
    assert _shell(client)[0] != before


def test_an_unbuilt_app_says_how_to_build_it(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, fresh_version: None
) -> None:
    monkeypatch.setattr(serve, "missing_assets", lambda: ["vendor/pouchdb.min.js"])
    answer = client.get("/app/sw.js")
    assert answer.status_code == 503
    assert "./dev" in answer.get_json()["reason"]
