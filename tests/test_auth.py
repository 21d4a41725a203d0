"""Accounts, Basic auth, cookie sessions, the login limit and the view decorators,
on the real app (create_app) and a real SQLite gateway database."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from support.app import (
    LOGIN_MAX_FAILURES,
    LOGIN_WINDOW_SECONDS,
    PASSWORD,
    FakeClock,
    basic_auth,
    make_user,
    server_config,
)

from schemas import split_message
from schemas.user import ROLES as SCHEMA_ROLES
from server.accounts.auth import device_id, login_required, roles_required, user_store
from server.accounts.users import ROLES, User, UserStore, hash_password, verify_password
from server.app import create_app


def users_of(app: Flask) -> UserStore:
    with app.app_context():
        return user_store()


def assert_bilingual(message: str) -> None:
    halves = split_message(message)
    assert halves["zh"] != halves["en"], message
    assert any("\u4e00" <= c <= "\u9fff" for c in halves["zh"]), message
    assert halves["en"].isascii(), message


# -- passwords and accounts -------------------------------------------------------------------


def test_password_hash_round_trip_and_format() -> None:
    stored = hash_password("水源在山谷里 valley-25")
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(salt) == 24 and len(key) == 44  # base64 of 16 and 32 bytes
    assert verify_password("水源在山谷里 valley-25", stored)
    assert not verify_password("水源在山谷里 valley-26", stored)
    assert hash_password("same password") != hash_password("same password")  # fresh salt


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "scrypt$16384$8$1$!!!$abc",
        "bcrypt$16384$8$1$AAAA$AAAA",
        "scrypt$3$8$1$AA==$AA==",
    ],
)
def test_malformed_stored_hash_never_verifies(stored: str) -> None:
    assert verify_password("anything", stored) is False


def test_roles_match_user_documents_and_the_table() -> None:
    assert ROLES == SCHEMA_ROLES == ("volunteer", "station_lead", "county_staff", "admin")


def test_create_get_list_and_authenticate(app: Flask) -> None:
    users = users_of(app)
    li = users.create(
        "li.ming", PASSWORD, "station_lead", "422827100001", "李明", "team:422827100001"
    )
    assert li == User("li.ming", "station_lead", "422827100001", "李明", "team:422827100001", True)
    users.create("wang", PASSWORD, "county_staff", "422827")
    assert users.get("li.ming") == li and users.get("nobody") is None
    assert [u.username for u in users.list_users()] == ["li.ming", "wang"]
    assert users.authenticate("li.ming", PASSWORD) == li
    assert users.authenticate("li.ming", PASSWORD + "x") is None
    assert users.authenticate("nobody", PASSWORD) is None


def test_inactive_users_and_changed_passwords_fail(app: Flask) -> None:
    users = users_of(app)
    users.create("li", PASSWORD, "volunteer", "422827100001")
    users.set_active("li", False)
    assert users.authenticate("li", PASSWORD) is None and users.get("li").active is False
    users.set_active("li", True)
    users.set_password("li", "a new password")
    assert users.authenticate("li", PASSWORD) is None
    assert users.authenticate("li", "a new password") is not None
    for change in (
        lambda: users.set_password("ghost", PASSWORD),
        lambda: users.set_active("ghost", False),
    ):
        with pytest.raises(ValueError, match="No such user") as caught:
            change()
        assert_bilingual(str(caught.value))


def test_unknown_user_costs_a_hash_like_a_wrong_password(app: Flask) -> None:
    users = users_of(app)
    users.create("li", PASSWORD, "volunteer", "422827100001")

    def timed(name: str) -> float:
        started = time.perf_counter()
        assert users.authenticate(name, "wrong password") is None
        return time.perf_counter() - started

    timed("nobody")  # the first unknown name also makes the dummy hash
    unknown = statistics.median(timed("nobody") for _ in range(5))
    wrong = statistics.median(timed("li") for _ in range(5))
    # Without the dummy hash an unknown name answers ~100x faster; with it, about as fast.
    assert unknown > wrong * 0.5, (unknown, wrong)


@pytest.mark.parametrize(
    ("fields", "english"),
    [
        ({"username": "Li Ming"}, "Username must be"),
        ({"username": "x"}, "Username must be"),
        ({"role": "superuser"}, "Invalid role"),
        ({"scope": "4228"}, "Scope must be a place code"),
        ({"scope": "湖北"}, "Scope must be a place code"),
        ({"password": "short"}, "at least 8 characters"),
        ({"password": "x" * 1025}, "at most 1024"),
        ({"display_name": "two\nlines"}, "display_name must be one line"),
        ({"username": "taken"}, "Username already exists"),
    ],
)
def test_bad_accounts_are_refused_in_both_languages(app: Flask, fields: dict, english: str) -> None:
    users = users_of(app)
    users.create("taken", PASSWORD, "volunteer", "422827100001")
    spec = {"username": "new.user", "password": PASSWORD, "role": "volunteer",
            "scope": "422827100001", **fields}  # fmt: skip
    with pytest.raises(ValueError, match=english) as caught:
        users.create(**spec)
    assert_bilingual(str(caught.value))
    assert [u.username for u in users.list_users()] == ["taken"]


def test_create_many_saves_all_or_nothing(app: Flask) -> None:
    users = users_of(app)
    spec = {"password": PASSWORD, "role": "volunteer", "scope": "422827100001"}
    with pytest.raises(ValueError, match="already exists"):
        users.create_many([{"username": "a1", **spec}, {"username": "a1", **spec}])
    assert users.list_users() == []


# -- HTTP Basic auth ----------------------------------------------------------------------------


def test_basic_auth_identifies_the_user(client: FlaskClient, create_user: Callable) -> None:
    create_user("li", role="station_lead")
    answer = client.get("/_session", headers=basic_auth("li"))
    assert answer.status_code == 200
    assert answer.json["userCtx"] == {"name": "li", "roles": ["station_lead"]}
    assert answer.json["info"]["authenticated"] == "default"
    assert "AuthSession" not in answer.headers.get("Set-Cookie", "")  # no cookie for Basic


@pytest.mark.parametrize(("name", "password"), [("li", "wrong password"), ("ghost", PASSWORD)])
def test_bad_basic_credentials_get_couchdbs_401(
    client: FlaskClient, create_user: Callable, name: str, password: str
) -> None:
    create_user("li")
    answer = client.get("/db/", headers=basic_auth(name, password))
    assert answer.status_code == 401
    assert answer.json["error"] == "unauthorized"
    assert_bilingual(answer.json["reason"])


def test_basic_auth_stops_working_after_a_password_change_or_deactivation(
    app: Flask, client: FlaskClient, create_user: Callable
) -> None:
    create_user("li")
    assert client.get("/_session", headers=basic_auth("li")).status_code == 200  # now cached
    users_of(app).set_password("li", "the new password")
    assert client.get("/_session", headers=basic_auth("li")).status_code == 401
    assert client.get("/_session", headers=basic_auth("li", "the new password")).status_code == 200
    users_of(app).set_active("li", False)
    assert client.get("/_session", headers=basic_auth("li", "the new password")).status_code == 401


def test_anonymous_session_has_no_name(client: FlaskClient) -> None:
    answer = client.get("/_session")
    assert answer.json["ok"] is True and answer.json["userCtx"] == {"name": None, "roles": []}


# -- cookie sessions ----------------------------------------------------------------------------


def login(client: FlaskClient, name: str, password: str = PASSWORD, form: bool = False):  # noqa: ANN201
    body = {"name": name, "password": password}
    return client.post("/_session", data=body) if form else client.post("/_session", json=body)


def session_name(client: FlaskClient) -> str | None:
    return client.get("/_session").json["userCtx"]["name"]


def test_cookie_login_sets_a_signed_httponly_lax_cookie(
    client: FlaskClient, create_user: Callable
) -> None:
    create_user("li", role="county_staff", scope="422827")
    answer = login(client, "li")
    assert answer.status_code == 200
    assert answer.json == {"ok": True, "name": "li", "roles": ["county_staff"]}
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("AuthSession=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie
    info = client.get("/_session").json
    assert info["userCtx"]["name"] == "li" and info["info"]["authenticated"] == "cookie"


def test_form_login_works_too(client: FlaskClient, create_user: Callable) -> None:
    create_user("li")
    assert login(client, "li", form=True).status_code == 200
    assert session_name(client) == "li"


@pytest.mark.parametrize("body", [{"name": "li"}, {"password": PASSWORD}, ["li", PASSWORD], {}])
def test_login_without_name_or_password_is_a_bad_request(client: FlaskClient, body: object) -> None:
    answer = client.post("/_session", json=body)
    assert answer.status_code == 400 and answer.json["error"] == "bad_request"


def test_wrong_password_login_is_401(client: FlaskClient, create_user: Callable) -> None:
    create_user("li")
    answer = login(client, "li", "wrong password")
    assert answer.status_code == 401 and answer.json["error"] == "unauthorized"
    assert session_name(client) is None


def test_session_expires_after_session_hours(
    client: FlaskClient, create_user: Callable, clock: FakeClock
) -> None:
    create_user("li")
    login(client, "li")
    clock.advance(3600 - 5)  # SESSION_HOURS is 1 in the test config
    assert session_name(client) == "li"
    clock.advance(10)
    assert session_name(client) is None
    assert client.get_cookie("AuthSession") is None  # the expired cookie was dropped


def test_logout_ends_the_session(client: FlaskClient, create_user: Callable) -> None:
    create_user("li")
    login(client, "li")
    assert client.delete("/_session").json == {"ok": True}
    assert session_name(client) is None


def test_tampered_cookie_is_rejected(client: FlaskClient, create_user: Callable) -> None:
    create_user("li")
    create_user("admin1", role="admin", scope="422827")
    login(client, "li")
    value = client.get_cookie("AuthSession").value
    payload, _, signature = value.partition(".")
    # Same signature, payload naming another user: the signature no longer matches.
    forged = value.replace(payload, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), 1)
    for bad in (forged, value[:-3] + "abc", signature):
        client.set_cookie("AuthSession", bad)
        assert session_name(client) is None


def test_cookie_from_another_secret_key_is_rejected(
    app: Flask, client: FlaskClient, create_user: Callable, tmp_path
) -> None:
    other = create_app(server_config(tmp_path / "other", SECRET_KEY="another key"))
    try:
        make_user(other, "li")
        other_client = other.test_client()
        login(other_client, "li")
        create_user("li")
        client.set_cookie("AuthSession", other_client.get_cookie("AuthSession").value)
        assert session_name(client) is None
    finally:
        other.extensions["fieldsync"].close()


def test_password_change_and_deactivation_end_sessions(
    app: Flask, client: FlaskClient, create_user: Callable
) -> None:
    create_user("li")
    login(client, "li")
    users_of(app).set_password("li", "the new password")
    assert session_name(client) is None
    login(client, "li", "the new password")
    users_of(app).set_active("li", False)
    assert session_name(client) is None


# -- the login limit ----------------------------------------------------------------------------


def test_failures_lock_out_even_the_right_password_until_the_window_passes(
    client: FlaskClient, create_user: Callable, clock: FakeClock
) -> None:
    create_user("li")
    for _ in range(LOGIN_MAX_FAILURES):
        assert client.get("/_session", headers=basic_auth("li", "guess")).status_code == 401
    for attempt in (
        lambda: client.get("/_session", headers=basic_auth("li")),
        lambda: login(client, "li"),
    ):
        answer = attempt()
        assert answer.status_code == 429
        assert answer.json["error"] == "too_many_requests"
        assert_bilingual(answer.json["reason"])
        assert 1 <= int(answer.headers["Retry-After"]) <= LOGIN_WINDOW_SECONDS
    clock.advance(LOGIN_WINDOW_SECONDS + 1)
    assert client.get("/_session", headers=basic_auth("li")).json["userCtx"]["name"] == "li"


def test_the_limit_is_per_user_and_address(client: FlaskClient, create_user: Callable) -> None:
    create_user("li")
    create_user("wang")
    for _ in range(LOGIN_MAX_FAILURES):
        login(client, "li", "guess")
    assert login(client, "li").status_code == 429
    assert login(client, "wang").status_code == 200  # another user from the same address
    other = {"REMOTE_ADDR": "10.20.30.40"}
    answer = client.post("/_session", json={"name": "li", "password": PASSWORD}, environ_base=other)
    assert answer.status_code == 200  # the same user from another address


def test_a_success_resets_the_count(client: FlaskClient, create_user: Callable) -> None:
    create_user("li")
    for _ in range(2):
        for _ in range(LOGIN_MAX_FAILURES - 1):
            assert login(client, "li", "guess").status_code == 401
        assert login(client, "li").status_code == 200


# -- decorators and the device header -----------------------------------------------------------


@pytest.fixture
def guarded(app: Flask) -> FlaskClient:
    @app.get("/test/private")
    @login_required
    def private():  # noqa: ANN202
        return jsonify({"device": device_id()})

    @app.get("/test/office")
    @roles_required("county_staff", "admin")
    def office():  # noqa: ANN202
        return jsonify({"ok": True})

    return app.test_client()


def test_login_required(guarded: FlaskClient, create_user: Callable) -> None:
    create_user("li")
    answer = guarded.get("/test/private")
    assert answer.status_code == 401 and answer.json["error"] == "unauthorized"
    assert guarded.get("/test/private", headers=basic_auth("li")).status_code == 200
    login(guarded, "li")
    assert guarded.get("/test/private").status_code == 200


def test_roles_required(guarded: FlaskClient, create_user: Callable) -> None:
    create_user("li")
    create_user("zhao", role="county_staff", scope="422827")
    create_user("root", role="admin", scope="422827")
    assert guarded.get("/test/office").status_code == 401
    answer = guarded.get("/test/office", headers=basic_auth("li"))
    assert answer.status_code == 403 and answer.json["error"] == "forbidden"
    assert_bilingual(answer.json["reason"])
    assert guarded.get("/test/office", headers=basic_auth("zhao")).status_code == 200
    assert guarded.get("/test/office", headers=basic_auth("root")).status_code == 200


def test_roles_required_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="wizard"):
        roles_required("admin", "wizard")
    with pytest.raises(ValueError):
        roles_required()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("tablet-100001-03", "tablet-100001-03"),
        ("hub:station.7_A", "hub:station.7_A"),
        ("x" * 64, "x" * 64),
        ("x" * 65, None),
        ("tablet/3", None),
        ("tablet 3", None),
        ("", None),
    ],
)
def test_device_id_from_the_header(
    guarded: FlaskClient, create_user: Callable, header: str, expected: str | None
) -> None:
    create_user("li")
    headers = {**basic_auth("li"), "X-Fieldsync-Device": header}
    assert guarded.get("/test/private", headers=headers).json == {"device": expected}
