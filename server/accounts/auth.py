"""Who is asking: HTTP Basic auth (replicators) or a signed session cookie (web pages).

`init_app` sets `g.user` (a User or None) before every request. CouchDB's shapes
are kept so PouchDB and our CouchStore need nothing special: 401
`{"error": "unauthorized"}` for bad credentials, `/_session` for cookie logins.
Failed logins are counted per (username, address) in the ledger store, so the
limit holds across threads and across gateway processes sharing the stores.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, session

from schemas.envelope import DEVICE_PATTERN
from sync.errors import Conflict, NotFound
from sync.store import Store

from ..logs import log_event
from .users import ROLES, User, UserStore

bp = Blueprint("auth", __name__)

DEVICE_HEADER = "X-Fieldsync-Device"
_DEVICE_RE = re.compile(DEVICE_PATTERN)
_CACHE_SECONDS, _CACHE_SIZE = 300, 4096

REASONS = {
    "bad_credentials": "用户名或密码错误。 / Name or password is incorrect.",
    "blocked": "登录失败次数过多，请 {seconds} 秒后再试。 / "
    "Too many failed logins; try again in {seconds} seconds.",
    "anonymous": "需要登录。 / Authentication required.",
    "forbidden": "您的角色无权执行此操作。 / Your role may not do this.",
    "missing": "需要提供用户名和密码。 / Name and password are required.",
}


class LoginLimiter:
    """Failed logins per key in a fixed window that opens at the first failure, kept as
    `_local` documents of the ledger store: every gateway process over the same stores
    counts the same failures, and they never replicate."""

    def __init__(self, ledger: Store, max_failures: int, window: float, clock: Callable):
        self.ledger, self.max_failures = ledger, max_failures
        self.window, self.clock = window, clock

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None if it may try now."""
        found = self._read(key)
        if found is None or found["failures"] < self.max_failures:
            return None
        remaining = found["window_start"] + self.window - self.clock()
        return max(1, math.ceil(remaining)) if remaining > 0 else None

    def failed(self, key: str) -> None:
        for _ in range(5):  # another process counting a failure of the same key: re-read
            now = self.clock()
            found = self._read(key)
            fresh = found is None or found["window_start"] <= now - self.window
            doc = {
                "_id": _failures_id(key),
                "failures": 1 if fresh else found["failures"] + 1,
                "window_start": now if fresh else found["window_start"],
            }
            if found is not None:
                doc["_rev"] = found["_rev"]
            try:
                self.ledger.put_local(doc)
                return
            except Conflict:
                continue

    def succeeded(self, key: str) -> None:
        found = self._read(key)
        if found is not None:
            with contextlib.suppress(Conflict, NotFound):  # cleared by another process
                self.ledger.delete_local(_failures_id(key), found["_rev"])

    def _read(self, key: str) -> dict | None:
        try:
            return self.ledger.get_local(_failures_id(key))
        except NotFound:
            return None


def _failures_id(key: str) -> str:
    return f"login-failures:{key}"


@dataclass
class Auth:
    """One app's authentication state (in `app.extensions`, never a module global)."""

    users: UserStore
    limiter: LoginLimiter
    clock: Callable[[], float]
    session_seconds: float
    secret: bytes
    # Replicators send Basic credentials on every request; scrypt costs ~50 ms, so a
    # verified (name, password) is remembered briefly, keyed by an HMAC, never in clear.
    _verified: dict[bytes, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, username: str, password: str) -> User | None:
        """The active user these credentials belong to, or None."""
        key = hmac.new(
            self.secret, f"{username}\0{password}".encode("utf-8", "surrogatepass"), "sha256"
        ).digest()
        found = self.users.credentials(username)
        with self._lock:
            cached = self._verified.get(key)
        if found and cached and cached[0] == found[1] and cached[1] > self.clock():
            return found[0] if found[0].active else None
        user = self.users.authenticate(username, password)
        if user is not None and found is not None:
            with self._lock:
                if len(self._verified) >= _CACHE_SIZE:
                    self._verified.clear()
                self._verified[key] = (found[1], self.clock() + _CACHE_SECONDS)
        return user


def init_app(app: Flask) -> None:
    hours = float(app.config["SESSION_HOURS"])
    app.permanent_session_lifetime = timedelta(hours=hours)
    app.config.update(
        SESSION_COOKIE_NAME="AuthSession",  # CouchDB's name for its session cookie
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_REFRESH_EACH_REQUEST=False,  # the expiry counts from the login
    )
    clock = app.config.get("CLOCK") or time.time  # tests pass a fake clock
    found = app.extensions["fieldsync"]  # services.init_app ran first
    users = found.users
    limiter = LoginLimiter(
        found.ledger,
        int(app.config["LOGIN_MAX_FAILURES"]),
        float(app.config["LOGIN_WINDOW_SECONDS"]),
        clock,
    )
    secret = str(app.config["SECRET_KEY"]).encode()
    app.extensions["fieldsync.auth"] = Auth(users, limiter, clock, hours * 3600, secret)
    app.before_request(_identify)
    app.register_blueprint(bp)


def _auth() -> Auth:
    return current_app.extensions["fieldsync.auth"]


def user_store() -> UserStore:
    """The current app's accounts."""
    return _auth().users


def current_user() -> User | None:
    """The user this request authenticated as, or None when anonymous."""
    return g.get("user")


def device_id() -> str | None:
    """The `X-Fieldsync-Device` header when it is a valid device id, else None."""
    value = request.headers.get(DEVICE_HEADER)
    return value if value and _DEVICE_RE.fullmatch(value) else None


def _identify() -> Response | None:
    g.user, g.auth_via, g.device = None, None, device_id()
    credentials = request.authorization
    if credentials is not None and credentials.type == "basic":
        outcome = _login(credentials.username or "", credentials.password or "", "basic")
        if isinstance(outcome, Response):
            return outcome
        g.user, g.auth_via = outcome, "default"  # CouchDB's name for Basic auth
    elif "user" in session:
        g.user = _session_user()
        g.auth_via = "cookie" if g.user else None
    return None


def _session_user() -> User | None:
    auth = _auth()
    found = auth.users.credentials(str(session.get("user")))
    valid = (
        found is not None
        and found[0].active
        and session.get("stamp") == _stamp(found[1])  # a password change ends sessions
        and float(session.get("exp", 0)) > auth.clock()
    )
    if not valid:
        session.clear()  # the response tells the browser to drop the cookie
        return None
    return found[0]


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _login(username: str, password: str, via: str) -> User | Response:
    """Check credentials under the failure limit: the User, or the 401/429 response."""
    auth = _auth()
    # Hashed: a password typed into the name field must not rest on disk.
    attempt = f"{request.remote_addr}|{username}".encode("utf-8", "surrogatepass")
    key = hashlib.sha256(attempt).hexdigest()
    wait = auth.limiter.retry_after(key)
    if wait is not None:
        log_event("login_blocked", user=_known(username), remote=request.remote_addr, via=via)
        reason = REASONS["blocked"].format(seconds=wait)
        return error(429, "too_many_requests", reason, {"Retry-After": str(wait)})
    user = auth.check(username, password)
    if user is None:
        auth.limiter.failed(key)
        # Only names that exist are logged: a mistyped "name" is often a password.
        log_event("login_failed", user=_known(username), remote=request.remote_addr, via=via)
        return error(401, "unauthorized", REASONS["bad_credentials"])
    auth.limiter.succeeded(key)
    return user


def _known(username: str) -> str | None:
    return username if _auth().users.get(username) is not None else None


def error(status: int, error: str, reason: str, headers: dict | None = None) -> Response:
    """A CouchDB-shaped JSON error response."""
    response = jsonify({"error": error, "reason": reason})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def login_required(view: Callable) -> Callable:
    """401 JSON unless the request is authenticated."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return error(401, "unauthorized", REASONS["anonymous"])
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles: str) -> Callable[[Callable], Callable]:
    """401 JSON when anonymous, 403 JSON unless the user has one of `roles`.

    No role implies another: list "admin" too where admins may act.
    """
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"roles_required: unknown roles {sorted(unknown)}")

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return error(401, "unauthorized", REASONS["anonymous"])
            if user.role not in roles:
                return error(403, "forbidden", REASONS["forbidden"])
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _user_ctx(user: User | None) -> dict:
    return {"name": user.username if user else None, "roles": [user.role] if user else []}


def sign_in(name: str, password: str) -> User | Response:
    """Check credentials under the failure limit and start a cookie session (CouchDB's
    AuthSession): the User, or the 401/429 response. For /_session and the station page."""
    outcome = _login(name, password, "session")
    if isinstance(outcome, Response):
        return outcome
    auth, found = _auth(), _auth().users.credentials(name)
    session.clear()
    session.permanent = True
    session.update(
        user=outcome.username,
        stamp=_stamp(found[1]) if found else "",
        exp=auth.clock() + auth.session_seconds,
    )
    g.user, g.auth_via = outcome, "cookie"
    log_event("login", user=outcome.username, remote=request.remote_addr, via="session")
    return outcome


@bp.post("/_session")
def login() -> Response:
    body = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(body, "get"):  # JSON that is not an object
        body = {}
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        return error(400, "bad_request", REASONS["missing"])
    outcome = sign_in(name, password)
    if isinstance(outcome, Response):
        return outcome
    return jsonify({"ok": True, **_user_ctx(outcome)})


@bp.get("/_session")
def session_info() -> Response:
    return jsonify(
        {
            "ok": True,
            "userCtx": _user_ctx(current_user()),
            "info": {
                "authentication_handlers": ["cookie", "default"],
                **({"authenticated": g.auth_via} if g.get("auth_via") else {}),
            },
        }
    )


@bp.delete("/_session")
def logout() -> Response:
    session.clear()
    return jsonify({"ok": True})
