"""Fixtures for the county server: `app`, `client`, `runner`, `clock`, `create_user`.

Imported by tests/conftest.py. The app is the real one (create_app) on a real
SQLite data directory under tmp_path, with small login limits and a clock the
test can move forward instead of sleeping.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from server.accounts.users import User
from server.app import create_app

PASSWORD = "correct horse 正确"  # what `create_user` gives everybody unless told otherwise
LOGIN_MAX_FAILURES = 3
LOGIN_WINDOW_SECONDS = 60


class FakeClock:
    """Real time plus whatever the test skipped with `advance`."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def server_config(data_dir: Path, clock: Callable[[], float] | None = None, **overrides) -> dict:
    """The test configuration `app` uses; for tests that build their own app."""
    return {
        "DATA_DIR": str(data_dir),
        "TESTING": True,
        "SECRET_KEY": "test secret key",
        "SESSION_HOURS": 1,
        "LOGIN_MAX_FAILURES": LOGIN_MAX_FAILURES,
        "LOGIN_WINDOW_SECONDS": LOGIN_WINDOW_SECONDS,
        "CLOCK": clock,
        **overrides,
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[Flask]:
    app = create_app(server_config(tmp_path / "county", clock))
    yield app
    app.extensions["fieldsync"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def make_user(
    app: Flask,
    username: str,
    role: str = "volunteer",
    scope: str = "422827100001",
    password: str = PASSWORD,
    **fields: str | None,
) -> User:
    """Create an account directly in the app's user store (a village volunteer by default)."""
    return app.extensions["fieldsync"].users.create(username, password, role, scope, **fields)


@pytest.fixture
def create_user(app: Flask) -> Callable[..., User]:
    """`create_user("li", role="station_lead", scope="422827100001")` on the `app` fixture."""

    def create(username: str, **kwargs: str | None) -> User:
        return make_user(app, username, **kwargs)

    return create


def basic_auth(username: str, password: str = PASSWORD) -> dict[str, str]:
    """Headers of an HTTP Basic login, as PouchDB and CouchStore send it."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}
