"""A small JSON-over-HTTP client for CouchDB-protocol peers on slow links.

Pooled keep-alive connections (one `requests.Session` per thread, since a
session is not safe to share), basic or cookie auth, gzip both ways, timeouts
on every call, and retries with exponential backoff and full jitter on
connection errors, truncated bodies and 5xx answers. A 4xx answer is never
retried: it becomes the matching `StoreError` at once.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from .documents import load_json
from .errors import PeerUnavailable, StoreError, Unauthorized, from_row
from .per_thread import PerThread

GZIP_MIN_BYTES = 1024  # smaller bodies gain nothing from compression


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying a request again.

    `sleep` does the waiting: tests give a fake one that records the delays and
    returns at once, so backoff is checked without real seconds passing."""

    attempts: int = 6  # total tries, the first included
    base_delay: float = 0.2  # seconds; doubled each retry, with full jitter
    max_delay: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before retry number `attempt` + 1 (0 is the first retry)."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))

    def wait(self, attempt: int, rng: random.Random) -> None:
        self.sleep(self.delay(attempt, rng))


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Take ``user:password@`` out of a URL, so it never reaches a log line."""
    parts = urlsplit(url)
    if parts.username is None:
        return url.rstrip("/"), None, None
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean.rstrip("/"), parts.username, parts.password


def basic_auth(username: str, password: str) -> str:
    """A Basic Authorization value in UTF-8 (as PouchDB sends it): `requests` would
    encode it as Latin-1 and fail on a Chinese password."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


@dataclass(frozen=True)
class EncodedBody:
    """A JSON request body ready to send, gzipped when large (see `HttpClient.encode`)."""

    data: bytes
    headers: dict[str, str]


def quote_id(doc_id: str) -> str:
    return quote(doc_id, safe="")


class HttpClient:
    """JSON requests against one base URL (a database or a server root)."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        cookie_auth: bool = False,
        timeout: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        compress: bool = True,
        on_retry: Callable[[str, int, str], None] | None = None,
    ) -> None:
        self.base_url, url_user, url_password = split_credentials(url)
        self.username = username or url_user
        self.password = password if password is not None else url_password
        self.cookie_auth = cookie_auth
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        # Off where the peer sits beside us (the county server and its CouchDB): there
        # compression costs CPU at both ends and saves no time.
        self.compress = compress
        self.on_retry = on_retry
        self._rng = random.Random()
        # A session is not safe to share between threads; a replication's stage
        # threads each get one, closed once the thread has ended.
        self._sessions = PerThread(self._new_session, requests.Session.close)

    def _session(self) -> requests.Session:
        return self._sessions.get()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxy lookup in os.environ on every request
        session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=8))
        session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=8))
        session.headers["Accept"] = "application/json"
        if not self.compress:
            session.headers["Accept-Encoding"] = "identity"
        if self.username is not None and not self.cookie_auth:
            session.headers["Authorization"] = basic_auth(self.username, self.password or "")
        if self.cookie_auth and self.username is not None:
            self._login(session)
        return session

    def _login(self, session: requests.Session) -> None:
        root = urlunsplit(urlsplit(self.base_url)._replace(path=""))
        answer = session.post(
            f"{root}/_session",
            json={"name": self.username, "password": self.password or ""},
            timeout=self.timeout,
        )
        if answer.status_code != 200:
            raise Unauthorized(f"cookie login as {self.username!r} failed ({answer.status_code})")

    def encode(self, json_text: str) -> EncodedBody:
        """JSON text, already encoded, as a request body."""
        data = json_text.encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.compress and len(data) >= GZIP_MIN_BYTES:
            data = gzip.compress(data, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        return EncodedBody(data, headers)

    def request(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping | None = None,
        body: object = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one request, retrying transport failures and 5xx; raise StoreError on 4xx.

        `body` is sent as JSON (gzipped when large; an `EncodedBody` as it is);
        `raw` as given. The response is read fully, so a truncated body is
        retried like a dropped link.
        """
        url = f"{self.base_url}/{path}" if path else self.base_url
        send_headers = dict(headers or {})
        data = raw
        if body is not None:
            encoded = (
                body
                if isinstance(body, EncodedBody)
                else self.encode(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
            )
            data = encoded.data
            send_headers = {**encoded.headers, **send_headers}
        last_problem = ""
        for attempt in range(self.retry.attempts):
            if attempt:
                self.retry.wait(attempt - 1, self._rng)
            try:
                response = self._session().request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=send_headers,
                    timeout=self.timeout,
                )
                _ = response.content  # read it all now: a cut body raises here
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise _error_from(response)
                    return response
                last_problem = f"HTTP {response.status_code}"
            if self.on_retry:
                self.on_retry(f"{method} {path or '/'}", attempt + 1, last_problem)
        raise PeerUnavailable(
            f"{method} {self.base_url}/{path}: gave up after "
            f"{self.retry.attempts} tries ({last_problem[:200]})"
        )

    def json(self, method: str, path: str = "", **kwargs: object) -> object:
        response = self.request(method, path, **kwargs)  # type: ignore[arg-type]
        try:
            return load_json(response.content)
        except ValueError:
            raise PeerUnavailable(
                f"{method} {path}: the peer answered with invalid JSON ({response.text[:120]!r})"
            ) from None

    def close(self) -> None:
        self._sessions.close_all()


def _error_from(response: requests.Response) -> StoreError:
    try:
        row = response.json()
    except ValueError:
        row = {}
    if not isinstance(row, dict):
        row = {}
    row.setdefault(
        "error",
        {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            409: "conflict",
            412: "precondition_failed",
            413: "too_large",
        }.get(response.status_code, "unknown_error"),
    )
    row.setdefault("reason", response.reason or row["error"])
    row.pop("id", None)
    return from_row(row, response.status_code)
