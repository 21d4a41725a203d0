"""The JSON-lines log: one line per request with the agreed fields, and never a
password, a body, a query string, or the Authorization and Cookie headers."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.app import PASSWORD, basic_auth

from server.logs import log_event

SECRET_PASSWORD = "山谷水源-secret-42"
VULNERABLE = "瘫痪在床的田大爷，独居，需要防褥疮气垫床"
QUERY_NAME = "田秀英"


def log_lines(capsys: pytest.CaptureFixture) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_each_request_is_one_json_line_with_the_agreed_fields(
    client: FlaskClient, create_user: Callable, capsys: pytest.CaptureFixture
) -> None:
    create_user("li")
    capsys.readouterr()
    headers = {**basic_auth("li"), "X-Fieldsync-Device": "tablet-100001-02"}
    client.get("/health?verbose=1", headers=headers, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    (line,) = log_lines(capsys)
    assert set(line) == {
        "time", "event", "method", "path", "status", "duration_ms", "user", "device", "remote",
    }  # fmt: skip
    assert line["event"] == "request" and line["time"].endswith("Z")
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health", 200)
    assert (line["user"], line["device"], line["remote"]) == ("li", "tablet-100001-02", "10.1.2.3")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_logins_and_chinese_bodies_leave_no_trace(
    app: Flask, client: FlaskClient, create_user: Callable, capsys: pytest.CaptureFixture
) -> None:
    create_user("li", password=SECRET_PASSWORD)
    capsys.readouterr()
    login = client.post("/_session", json={"name": "li", "password": SECRET_PASSWORD})
    assert login.status_code == 200
    cookie = client.get_cookie("AuthSession").value
    client.post("/_session", json={"name": "li", "password": SECRET_PASSWORD + "x"})  # fails
    client.post("/_session", data={"name": "li", "password": "form " + SECRET_PASSWORD})
    client.post("/_session", json={"name": SECRET_PASSWORD, "password": "typed in the name"})
    client.get("/db/", headers=basic_auth("li", SECRET_PASSWORD))
    note = {"_id": "household:X", "type": "household", "note": VULNERABLE}
    client.put("/db/household:X", json=note, headers=basic_auth("li", SECRET_PASSWORD))
    client.post("/db/_bulk_docs", data=json.dumps({"docs": [note]}, ensure_ascii=False),
                content_type="application/json; charset=utf-8")  # fmt: skip
    client.get(f"/db/_all_docs?name={QUERY_NAME}&password={SECRET_PASSWORD}")
    log = capsys.readouterr().err
    lines = [json.loads(line) for line in log.splitlines()]

    assert len([line for line in lines if line["event"] == "request"]) == 8
    assert {"login", "login_failed"} <= {line["event"] for line in lines}
    token = base64.b64encode(f"li:{SECRET_PASSWORD}".encode()).decode()
    for secret in (SECRET_PASSWORD, VULNERABLE, QUERY_NAME, token, cookie, "Authorization",
                   "Cookie", "password", "?"):  # fmt: skip
        assert secret not in log, secret
    # Nor in escaped form, should a writer ever switch to ASCII-only JSON.
    assert json.dumps(VULNERABLE)[1:-1] not in log
    failed = [line for line in lines if line["event"] == "login_failed"]
    assert [line["user"] for line in failed] == ["li", "li", None]  # an unknown name is not kept


def test_log_event_outside_a_request(capsys: pytest.CaptureFixture) -> None:
    log_event("imported", file="villages.csv", users=3)
    (line,) = log_lines(capsys)
    assert line["event"] == "imported" and line["users"] == 3 and line["file"] == "villages.csv"


def test_log_event_keeps_chinese_readable(app: Flask, capsys: pytest.CaptureFixture) -> None:
    with app.app_context():
        log_event("place_named", name="来凤县")
    assert '"name":"来凤县"' in capsys.readouterr().err


def test_password_login_of_a_basic_replicator_is_logged_by_name_only(
    client: FlaskClient, create_user: Callable, capsys: pytest.CaptureFixture
) -> None:
    create_user("li")
    capsys.readouterr()
    client.get("/_session", headers=basic_auth("li", PASSWORD))
    (line,) = log_lines(capsys)
    assert line["user"] == "li" and PASSWORD not in json.dumps(line, ensure_ascii=False)
