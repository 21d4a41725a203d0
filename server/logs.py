"""Structured logs: one JSON line per request and per notable event, on stderr.

What is logged is chosen field by field, never copied wholesale from the request:
bodies, query strings (`?name=...`), passwords, and the Authorization and
Cookie headers can carry vulnerable people's data or secrets, so none of them
is ever written. Paths are logged without their query string.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime

from flask import Flask, Response, current_app, g, has_app_context, request


class JsonLog:
    """Writes whole lines under a lock, so threads never interleave within a line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))
        with self._lock:
            # Looked up on each write, so a redirected stderr (tests, daemons) is honoured.
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


def init_app(app: Flask) -> None:
    app.extensions["fieldsync.log"] = JsonLog()
    app.before_request(_start)
    app.after_request(_log_request)


def log_event(event: str, **fields: object) -> None:
    """Log one event, e.g. `log_event("login_failed", user="li", remote="10.0.0.5")`.

    Callers pass only fields that are safe to keep: never passwords or record contents.
    """
    record = {"time": _now(), "event": event, **fields}
    if has_app_context() and "fieldsync.log" in current_app.extensions:
        current_app.extensions["fieldsync.log"].write(record)
    else:
        JsonLog().write(record)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _start() -> None:
    g.log_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    # The time to the response object; a streamed body (a longpoll feed) runs on after.
    started = g.get("log_started", time.perf_counter())
    user = g.get("user")
    log_event(
        "request",
        method=request.method,
        path=request.path,
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        user=getattr(user, "username", None),
        device=g.get("device"),
        remote=request.remote_addr,
    )
    return response
