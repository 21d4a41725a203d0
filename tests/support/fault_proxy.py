"""A fault-injecting HTTP/1.1 proxy for sync tests: one local upstream, faults by plan.

    with FaultProxy(upstream="http://127.0.0.1:5984", plan=FaultPlan(seed=1, rate=0.1)) as proxy:
        replicate(source=proxy.url + "/db", ...)
        proxy.faults, proxy.log, proxy.bytes_up, proxy.bytes_down

It relays bytes rather than re-encoding HTTP: request and response heads and
bodies (chunked, gzip-encoded, long-polled) go through as received, so the
byte counters measure what a real link would carry. The only rewrite is that
an ``Expect: 100-continue`` header is answered by the proxy itself and not
forwarded (the whole request body is read before forwarding).

Connections: each client connection gets its own upstream connection, opened
on first use and kept alive as long as both sides allow it, so client-side
keep-alive works (HTTP/1.0 clients get one response per connection). An
upstream connection found closed when reused is replaced, and the request
re-sent once if it got no byte of answer. After a fault that cuts a response
the client connection is closed and the upstream connection thrown away.

Each request is logged and counted before its last bytes are sent (or its
connection is closed), so once a client holds a whole answer, or an error,
``proxy.log`` already has it. Every socket has ``timeout`` (30 s): an upstream
silent that long gets the client a 504 before the head, a cut body after it;
an unreachable upstream gets it a 502. Long polls and continuous feeds need a
timeout longer than their heartbeat.

Fault kinds (``KINDS``):

- ``drop_request``: read the head and part of the body, close; nothing forwarded.
- ``drop_response``: forward, then close after part of the response: either
  inside the status line (``before_headers``) or in the middle of the body
  (middle of the first chunk for chunked responses).
- ``status_500``: answer a CouchDB-style 500 without forwarding.
- ``forward_then_500``: forward (the upstream applies the write), discard its
  answer, answer 500: the case that makes retries need idempotency.
- ``truncate``: full head, body cut short (Content-Length claims more; or
  chunked without the terminal chunk), then close.
- ``delay``: wait ``delay_ms`` (at most 2 s) before forwarding.

A response with no body to cut (HEAD, 204, 304, ``Content-Length: 0``) is cut
inside its status line for ``truncate`` and ``drop_response`` alike. A body
delimited by closing the connection (neither length nor chunked; CouchDB does
not send these) cannot be visibly truncated. Not supported: protocol upgrades
(101), CONNECT, TLS. Request bodies are buffered whole, response bodies stream.
"""

from __future__ import annotations

import json
import random
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from types import TracebackType
from typing import NamedTuple
from urllib.parse import urlsplit

KINDS: tuple[str, ...] = (
    "drop_request",
    "drop_response",
    "status_500",
    "forward_then_500",
    "truncate",
    "delay",
)
MAX_DELAY_MS = 2000  # a delay is a slow link, never a hang
DEFAULT_TIMEOUT = 30.0  # seconds, on every socket operation
INJECTED_500_BODY = b'{"error":"internal_server_error","reason":"injected"}'

_LOCAL_HOSTS = ("127.0.0.1", "localhost")
_MAX_HEAD = 64 * 1024  # a bigger head is garbage, not a request
_PIECE = 64 * 1024
_ACCEPT_POLL = 0.05  # seconds; how quickly the accept loop notices stop()
_STOP_JOIN = 5.0  # seconds stop() waits for all threads together
_HEX = re.compile(rb"[0-9A-Fa-f]+")


@dataclass(frozen=True)
class Fault:
    """One injected fault. ``fraction`` in [0, 1) says how much gets through a cut."""

    kind: str
    delay_ms: int = 100
    fraction: float = 0.5
    before_headers: bool = False  # drop_response only: cut inside the status line

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {KINDS}")
        if not 0 <= self.delay_ms <= MAX_DELAY_MS:
            raise ValueError(f"delay_ms must be in [0, {MAX_DELAY_MS}], not {self.delay_ms}")
        if not 0 <= self.fraction < 1:
            raise ValueError(f"fraction must be in [0, 1), not {self.fraction}")


class FaultRecord(NamedTuple):
    kind: str
    method: str
    path: str


class LogEntry(NamedTuple):
    """One request: ``status`` is what the client got (None if no status line reached it)."""

    method: str
    path: str
    status: int | None
    bytes_up: int
    bytes_down: int


class FaultPlan:
    """Decides, per request, whether and how to fail it; deterministic for a given seed.

    Requests are drawn for in the order the proxy reads their heads, so the
    sequence is reproducible when the client sends requests one at a time.
    Requests whose target (path and query) does not match ``only_paths``
    (``re.search``) are never faulted and do not consume the random stream.
    """

    def __init__(
        self,
        seed: int = 0,
        rate: float = 0.1,
        kinds: Sequence[str] = KINDS,
        max_faults: int = 100,
        only_paths: str | re.Pattern[str] | None = None,
        delay_ms: tuple[int, int] = (50, 500),
    ) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be in [0, 1], not {rate}")
        if not kinds:
            raise ValueError("kinds must not be empty")
        for kind in kinds:
            Fault(kind)  # validates the name
        low, high = delay_ms
        if not 0 <= low <= high <= MAX_DELAY_MS:
            raise ValueError(f"delay_ms must satisfy 0 <= low <= high <= {MAX_DELAY_MS}")
        self.seed = seed
        self.rate = rate
        self.kinds = tuple(kinds)
        self.max_faults = max_faults
        self.delay_ms = (low, high)
        self.only_paths = re.compile(only_paths) if isinstance(only_paths, str) else only_paths
        self.injected = 0  # faults handed out so far
        self._rng = random.Random(seed)
        self._script: list[Fault | None] | None = None
        self._position = 0
        self._lock = threading.Lock()

    @classmethod
    def script(
        cls,
        steps: Sequence[str | Fault | None],
        only_paths: str | re.Pattern[str] | None = None,
    ) -> FaultPlan:
        """Exact plan: step i applies to the i-th (matching) request; none after the last."""
        plan = cls(rate=0.0, max_faults=len(steps), only_paths=only_paths)
        plan._script = [
            None if step is None else Fault(step) if isinstance(step, str) else step
            for step in steps
        ]
        return plan

    def decide(self, method: str, path: str) -> Fault | None:
        """The fault for this request, or None. Called once per request by the proxy."""
        with self._lock:
            if self.only_paths is not None and not self.only_paths.search(path):
                return None
            if self._script is not None:
                if self._position >= len(self._script):
                    return None
                fault = self._script[self._position]
                self._position += 1
            else:
                if self.injected >= self.max_faults or self._rng.random() >= self.rate:
                    return None
                fault = self._draw(self._rng.choice(self.kinds))
            if fault is not None:
                self.injected += 1
            return fault

    def _draw(self, kind: str) -> Fault:
        # Always the same three draws, so one kind's parameters never shift the next choice.
        delay = self._rng.randint(*self.delay_ms)
        fraction = self._rng.random()
        before_headers = self._rng.random() < 0.25
        return Fault(kind, delay, fraction, before_headers and kind == "drop_response")


class _Stopped(Exception):
    """The proxy is shutting down."""


class _BadMessage(Exception):
    """Unparseable or cut-off HTTP from either side."""


class _UpstreamFailed(Exception):
    """The upstream could not be reached or gave no response."""


class _Conn:
    """A socket with a read buffer and byte counts (the proxy's counters hook in here)."""

    def __init__(
        self,
        sock: socket.socket,
        on_recv: Callable[[int], None] | None = None,
        on_send: Callable[[int], None] | None = None,
    ) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.consumed = 0  # bytes handed to the parser; the rest belongs to the next request
        self.sent = 0
        self._on_recv = on_recv
        self._on_send = on_send

    def _fill(self) -> bool:
        data = self.sock.recv(_PIECE)
        if not data:
            return False
        if self._on_recv is not None:
            self._on_recv(len(data))
        self.buf += data
        return True

    def _take(self, n: int) -> bytes:
        data = bytes(self.buf[:n])
        del self.buf[:n]
        self.consumed += len(data)
        return data

    def read_head(self, skip_blank_lines: bool = False) -> bytes | None:
        """Bytes up to and including the blank line; None on EOF before any byte."""
        while True:
            if skip_blank_lines:  # RFC 9112 2.2: ignore CRLFs before a request line
                while self.buf[:2] == b"\r\n":
                    self._take(2)
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                return self._take(end + 4)
            if len(self.buf) > _MAX_HEAD:
                raise _BadMessage("head too large")
            if not self._fill():
                if not self.buf:
                    return None
                raise _BadMessage("connection closed inside a head")

    def read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                return self._take(end + 2)
            if len(self.buf) > _MAX_HEAD:
                raise _BadMessage("line too long")
            if not self._fill():
                raise _BadMessage("connection closed inside a line")

    def read_some(self, limit: int, eof_ok: bool = False) -> bytes:
        """1..limit bytes; b"" at EOF only if eof_ok."""
        if not self.buf and not self._fill():
            if eof_ok:
                return b""
            raise _BadMessage("connection closed inside a body")
        return self._take(min(limit, len(self.buf)))

    def read_exact(self, n: int) -> bytes:
        parts = []
        while n > 0:
            part = self.read_some(n)
            parts.append(part)
            n -= len(part)
        return b"".join(parts)

    def send(self, data: bytes, counted: bool = False) -> None:
        """Send all of ``data``; ``counted`` if the caller has already counted it."""
        if not data:
            return
        self.sock.sendall(data)
        self.sent += len(data)
        if self._on_send is not None and not counted:
            self._on_send(len(data))


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _BadMessage(f"bad header line {line!r}")
        headers.append((name.lower(), value.strip()))
    return lines[0], headers


def _tokens(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [t.strip().lower() for n, v in headers if n == name for t in v.split(",") if t.strip()]


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    values = {v.strip() for n, v in headers if n == "content-length"}
    if not values:
        return None
    if len(values) > 1 or not all(v.isdigit() for v in values):
        raise _BadMessage(f"bad Content-Length {values}")
    return int(values.pop())


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    head: bytes

    @classmethod
    def parse(cls, head: bytes) -> _Request:
        start, headers = _parse_head(head)
        parts = start.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadMessage(f"bad request line {start!r}")
        return cls(parts[0], parts[1], parts[2], headers, head)

    @property
    def keep_alive(self) -> bool:
        # HTTP/1.0 clients get one response per connection: simpler than echoing keep-alive.
        return self.version == "HTTP/1.1" and "close" not in _tokens(self.headers, "connection")

    @property
    def expects_continue(self) -> bool:
        return "100-continue" in _tokens(self.headers, "expect")

    @property
    def forward_head(self) -> bytes:
        if not self.expects_continue:
            return self.head
        # The proxy already said 100 Continue; the upstream must not say it again.
        lines = self.head.split(b"\r\n")
        return b"\r\n".join(ln for ln in lines if not ln.lower().startswith(b"expect:"))

    def body_length(self) -> int | None:
        """Content-Length, 0 for no body, None for chunked."""
        coding = _tokens(self.headers, "transfer-encoding")
        if coding:
            if coding[-1] != "chunked":
                raise _BadMessage("request body without a length")
            return None
        return _content_length(self.headers) or 0


@dataclass
class _Response:
    status: int
    version: str
    headers: list[tuple[str, str]]
    head: bytes

    @classmethod
    def parse(cls, head: bytes) -> _Response:
        start, headers = _parse_head(head)
        parts = start.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise _BadMessage(f"bad status line {start!r}")
        return cls(int(parts[1]), parts[0], headers, head)

    @property
    def status_line(self) -> bytes:
        return self.head[: self.head.index(b"\r\n")]

    @property
    def wants_close(self) -> bool:
        tokens = _tokens(self.headers, "connection")
        return "close" in tokens or (self.version == "HTTP/1.0" and "keep-alive" not in tokens)

    def framing(self, method: str) -> tuple[str, int]:
        """("none" | "length" | "chunked" | "close", length) per RFC 9112 6.3."""
        if method == "HEAD" or self.status < 200 or self.status in (204, 304):
            return "none", 0
        coding = _tokens(self.headers, "transfer-encoding")
        if coding:
            return ("chunked", 0) if coding[-1] == "chunked" else ("close", 0)
        length = _content_length(self.headers)
        return ("close", 0) if length is None else ("length", length)


def _chunked_pieces(conn: _Conn) -> Iterator[tuple[str, bytes, int]]:
    """Raw pieces of a chunked body as they arrive: ("size", line, n), ("data", bytes, n),
    ("crlf", b"\\r\\n", 0) and finally ("end", last-chunk + trailers + CRLF, 0)."""
    while True:
        line = conn.read_line()
        digits = line[:-2].split(b";", 1)[0].strip()
        if not _HEX.fullmatch(digits):
            raise _BadMessage(f"bad chunk size line {line!r}")
        size = int(digits, 16)
        if size == 0:
            end = [line]
            while end[-1] != b"\r\n":  # trailer fields, then the blank line
                end.append(conn.read_line())
            yield "end", b"".join(end), 0
            return
        yield "size", line, size
        remaining = size
        while remaining:
            data = conn.read_some(min(remaining, _PIECE))
            remaining -= len(data)
            yield "data", data, size
        crlf = conn.read_exact(2)
        if crlf != b"\r\n":
            raise _BadMessage("chunk data not followed by CRLF")
        yield "crlf", crlf, 0


def _body_pieces(conn: _Conn, framing: str, length: int) -> Iterator[tuple[str, bytes, int]]:
    if framing == "chunked":
        yield from _chunked_pieces(conn)
    elif framing == "length":
        remaining = length
        while remaining:
            data = conn.read_some(min(remaining, _PIECE))
            remaining -= len(data)
            yield "data", data, length
    elif framing == "close":
        while data := conn.read_some(_PIECE, eof_ok=True):
            yield "data", data, 0


def _is_stale(sock: socket.socket) -> bool:
    """An idle keep-alive connection that is readable has been closed (or is out of sync)."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(0))


def _resolve_upstream(upstream: str) -> tuple[str, list[tuple[int, tuple]]]:
    parts = urlsplit(upstream)
    if parts.scheme != "http":
        raise ValueError(f"upstream must be http://, not {upstream!r}")
    if parts.hostname not in _LOCAL_HOSTS:
        raise ValueError(f"upstream must be on 127.0.0.1 or localhost, not {upstream!r}")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"upstream must be a bare http://host:port, not {upstream!r}")
    port = parts.port or 80
    infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    # Even "localhost" could be mapped anywhere by /etc/hosts: keep loopback only.
    addrs = [(family, addr) for family, _, _, _, addr in infos if ip_address(addr[0]).is_loopback]
    if not addrs:
        raise ValueError(f"{parts.hostname} does not resolve to a loopback address")
    return f"http://{parts.netloc}", addrs


@dataclass
class _Outcome:
    """How one exchange ended: status the client saw, bytes still to send, keep-alive."""

    status: int | None = None
    tail: bytes = b""
    keep: bool = False

    def answer(
        self, req: _Request, status: int, phrase: str, error: str, reason: str, note: str = ""
    ) -> None:
        """A JSON error answer made by the proxy, the way CouchDB words them."""
        body = json.dumps({"error": error, "reason": reason}, separators=(",", ":")).encode()
        self.status = status
        self.keep = req.keep_alive
        self.tail = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            "Content-Type: application/json\r\n"
            "Cache-Control: must-revalidate\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Fault-Proxy: {note or error}\r\n"
            + ("" if self.keep else "Connection: close\r\n")
            + "\r\n"
        ).encode("latin-1") + body


class _UpstreamSlot:
    """The upstream connection paired with one client connection."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.conn: _Conn | None = None

    def get(self) -> tuple[_Conn, bool]:
        """(connection, reused)."""
        if self.conn is not None and not _is_stale(self.conn.sock):
            return self.conn, True
        self.drop()
        self.conn = _Conn(self.proxy._connect_upstream())
        return self.conn, False

    def drop(self) -> None:
        if self.conn is not None:
            self.proxy._close(self.conn.sock)
            self.conn = None


class FaultProxy:
    """HTTP/1.1 proxy on 127.0.0.1:<free port> to one loopback upstream, with fault injection.

    ``plan`` (a FaultPlan or None) may be replaced at any time; it is consulted
    once per request. Counters, ``log`` and ``faults`` are reset by
    ``reset_counters()``; ``errors`` collects unexpected exceptions from handler
    threads (proxy bugs), which a test can assert is empty.
    """

    def __init__(
        self,
        upstream: str,
        plan: FaultPlan | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_body_bytes: int | None = None,
    ) -> None:
        self.upstream, self._upstream_addrs = _resolve_upstream(upstream)
        self.plan = plan
        self.timeout = timeout
        # A request body larger than this gets CouchDB's 413 (max_http_request_size).
        self.max_body_bytes = max_body_bytes
        self.port = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._live: set[socket.socket] = set()
        self._errors: list[BaseException] = []
        self._serial = 0
        self.reset_counters()

    # -- observation -------------------------------------------------------

    def reset_counters(self) -> None:
        """Zero bytes, request and connection counts, and empty ``log`` and ``faults``."""
        with self._lock:
            self._bytes_up = 0
            self._bytes_down = 0
            self._requests = 0
            self._connections = 0
            self._upstream_connections = 0
            self._log: list[LogEntry] = []
            self._faults: list[FaultRecord] = []

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("proxy not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def bytes_up(self) -> int:
        """Bytes received from clients (request heads and bodies)."""
        with self._lock:
            return self._bytes_up

    @property
    def bytes_down(self) -> int:
        """Bytes sent to clients (response heads and bodies, interim responses)."""
        with self._lock:
            return self._bytes_down

    @property
    def requests(self) -> int:
        """Request heads read, faulted or not."""
        with self._lock:
            return self._requests

    @property
    def connections(self) -> int:
        """Client connections accepted."""
        with self._lock:
            return self._connections

    @property
    def upstream_connections(self) -> int:
        """Upstream connections opened."""
        with self._lock:
            return self._upstream_connections

    @property
    def log(self) -> list[LogEntry]:
        with self._lock:
            return list(self._log)

    @property
    def faults(self) -> list[FaultRecord]:
        with self._lock:
            return list(self._faults)

    @property
    def errors(self) -> list[BaseException]:
        with self._lock:
            return list(self._errors)

    def _count_up(self, n: int) -> None:
        with self._lock:
            self._bytes_up += n

    def _count_down(self, n: int) -> None:
        with self._lock:
            self._bytes_down += n

    # -- life cycle ----------------------------------------------------------

    def start(self) -> FaultProxy:
        if self._listener is not None or self._stopping.is_set():
            raise RuntimeError("a FaultProxy starts once")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            listener.settimeout(_ACCEPT_POLL)  # so the loop sees stop() promptly
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"fault-proxy-{self.port}-accept", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut every connection, join every thread (within ~5 s)."""
        self._stopping.set()
        deadline = time.monotonic() + _STOP_JOIN
        if self._accept_thread is not None:
            self._accept_thread.join(_STOP_JOIN)
        with self._lock:
            live = list(self._live)
            threads = list(self._threads)
        for sock in live:  # wakes handlers blocked in recv; each closes its own sockets
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def alive_threads(self) -> list[threading.Thread]:
        with self._lock:
            threads = list(self._threads)
        if self._accept_thread is not None:
            threads.append(self._accept_thread)
        return [t for t in threads if t.is_alive()]

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        left = self.alive_threads()
        if left and exc_type is None:  # do not hide the test's own failure
            raise RuntimeError(f"FaultProxy threads still running: {left}")

    # -- sockets -------------------------------------------------------------

    def _register(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._live.add(sock)
                return
        sock.close()
        raise _Stopped

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.discard(sock)
        sock.close()

    def _connect_upstream(self) -> socket.socket:
        error: OSError | None = None
        for family, addr in self._upstream_addrs:
            sock = socket.socket(family, socket.SOCK_STREAM)
            self._register(sock)
            try:
                sock.settimeout(self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(addr)
            except OSError as exc:
                self._close(sock)
                error = exc
                continue
            if self._stopping.is_set():  # stop() may have missed it while connecting
                self._close(sock)
                raise _Stopped
            with self._lock:
                self._upstream_connections += 1
            return sock
        assert error is not None
        raise error

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        try:
            while not self._stopping.is_set():
                try:
                    sock, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break
                try:
                    self._register(sock)
                except _Stopped:
                    break
                sock.settimeout(self.timeout)
                # Head and body go out in separate sends: Nagle would hold the body for
                # the client's delayed ACK (40 ms a response), a delay no link asked for.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._lock:
                    self._connections += 1
                    self._serial += 1
                    name = f"fault-proxy-{self.port}-conn-{self._serial}"
                    self._threads = {t for t in self._threads if t.is_alive()}
                    thread = threading.Thread(
                        target=self._serve, args=(sock,), name=name, daemon=True
                    )
                    self._threads.add(thread)
                thread.start()
        finally:
            listener.close()

    # -- one client connection ----------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        client = _Conn(sock, self._count_up, self._count_down)
        slot = _UpstreamSlot(self)
        try:
            while not self._stopping.is_set() and self._exchange(client, slot):
                pass
        except (OSError, _BadMessage, _Stopped):
            pass  # the connection is dead or garbled: closing it is the answer
        except Exception as exc:  # a proxy bug: keep it for the test to see
            with self._lock:
                self._errors.append(exc)
        finally:
            slot.drop()
            self._close(sock)

    def _exchange(self, client: _Conn, slot: _UpstreamSlot) -> bool:
        """Serve one request; True if the client connection stays open for another."""
        up0, down0 = client.consumed, client.sent
        head = client.read_head(skip_blank_lines=True)
        if head is None:
            return False
        req = _Request.parse(head)
        plan = self.plan
        fault = plan.decide(req.method, req.target) if plan is not None else None
        with self._lock:
            self._requests += 1
            if fault is not None:
                self._faults.append(FaultRecord(fault.kind, req.method, req.target))
        out = _Outcome()
        try:
            self._respond(client, slot, req, fault, out)
        finally:
            # Logged and counted before the last bytes go out (and before a cut connection
            # is closed), so a client that has its whole answer also finds it in the log.
            entry = LogEntry(
                req.method,
                req.target,
                out.status,
                client.consumed - up0,
                client.sent - down0 + len(out.tail),
            )
            with self._lock:
                self._log.append(entry)
                self._bytes_down += len(out.tail)
        client.send(out.tail, counted=True)
        return out.keep

    def _respond(
        self, client: _Conn, slot: _UpstreamSlot, req: _Request, fault: Fault | None, out: _Outcome
    ) -> None:
        """Answer one request; what the client must get last is left in ``out.tail``."""
        kind = fault.kind if fault is not None else None
        length = req.body_length()
        if fault is not None and kind == "drop_request":
            if length:  # "part of the request": a share of a sized body
                client.read_exact(int(fault.fraction * length))
            return
        if req.expects_continue:
            client.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if length is None:
            body = b"".join(piece for _, piece, _ in _chunked_pieces(client))
        else:
            body = client.read_exact(length)
        if kind == "status_500":
            out.answer(req, 500, "Internal Server Error", "internal_server_error", "injected", kind)
            return
        if self.max_body_bytes is not None and len(body) > self.max_body_bytes:
            out.answer(
                req, 413, "Request Entity Too Large", "too_large", "the request entity is too large"
            )
            return
        if fault is not None and kind == "delay":
            if self._stopping.wait(fault.delay_ms / 1000):
                raise _Stopped

        try:
            up, resp = self._forward(slot, req, body)
        except TimeoutError:
            out.answer(req, 504, "Gateway Timeout", "gateway_timeout", "upstream timed out")
            return
        except _UpstreamFailed as exc:
            out.answer(req, 502, "Bad Gateway", "bad_gateway", str(exc))
            return

        while resp.status < 200:  # interim responses (103 Early Hints and the like)
            if resp.status == 101:
                raise _BadMessage("protocol upgrades are not supported")
            if kind != "forward_then_500":
                client.send(resp.head)
            head = up.read_head()
            if head is None:
                raise _BadMessage("upstream closed after an interim response")
            resp = _Response.parse(head)

        framing, size = resp.framing(req.method)
        reusable = req.keep_alive and not resp.wants_close and framing != "close"
        if kind == "forward_then_500":
            for _ in _body_pieces(up, framing, size):
                pass  # the upstream's answer is read and thrown away
            if not reusable:
                slot.drop()
            out.answer(req, 500, "Internal Server Error", "internal_server_error", "injected", kind)
            return

        if fault is not None and kind in ("drop_response", "truncate"):
            self._relay_cut(client, up, resp, framing, size, fault, out)
            slot.drop()  # left mid-response: out of sync
            return
        out.status = resp.status
        out.keep = reusable
        out.tail = resp.head
        remaining = size
        for piece_kind, piece, _ in _body_pieces(up, framing, size):
            client.send(out.tail)
            out.tail = b""
            remaining -= len(piece)
            # The piece known to be the last is held back (see _exchange); never a piece
            # that may be followed by a long wait, or a long-poll's events would lag.
            if piece_kind == "end" or (framing == "length" and remaining == 0):
                out.tail = piece
            else:
                client.send(piece)
        if not reusable:
            slot.drop()

    def _forward(self, slot: _UpstreamSlot, req: _Request, body: bytes) -> tuple[_Conn, _Response]:
        data = req.forward_head + body
        for _ in range(2):
            try:
                up, reused = slot.get()
            except TimeoutError:
                raise
            except OSError as exc:
                raise _UpstreamFailed(f"cannot connect to {self.upstream}: {exc}") from exc
            try:
                up.send(data)
                head = up.read_head()
            except TimeoutError:
                slot.drop()
                raise
            except _BadMessage as exc:  # part of an answer: it did see the request
                slot.drop()
                raise _UpstreamFailed(f"{self.upstream} sent a broken response head") from exc
            except OSError:
                head = None
            if head is not None:
                return up, _Response.parse(head)
            slot.drop()
            if self._stopping.is_set():
                raise _Stopped
            # A reused keep-alive connection the upstream closed just now: the request
            # got no byte of answer, so it is sent once more on a fresh connection.
            if not reused:
                break
        raise _UpstreamFailed(f"{self.upstream} closed the connection without a response")

    def _relay_cut(
        self,
        client: _Conn,
        up: _Conn,
        resp: _Response,
        framing: str,
        size: int,
        fault: Fault,
        out: _Outcome,
    ) -> None:
        """Send the response only in part, as ``fault`` says; the caller then closes."""
        bodiless = framing == "none" or (framing == "length" and size == 0)
        if fault.before_headers or bodiless:
            line = resp.status_line
            client.send(line[: int(fault.fraction * len(line))])
            return
        client.send(resp.head)
        out.status = resp.status
        pieces = _body_pieces(up, framing, size)
        if framing == "length":  # Content-Length stays the full length
            budget = int(fault.fraction * size)
            if budget == 0:
                return
            for _, piece, _ in pieces:
                client.send(piece[:budget])
                budget -= len(piece)
                if budget <= 0:
                    return
        elif framing == "close":  # unavoidably indistinguishable from a normal end
            for _, piece, _ in pieces:
                client.send(piece[: int(fault.fraction * len(piece))])
                return
        elif fault.kind == "truncate":  # every chunk but the terminal one
            for piece_kind, piece, _ in pieces:
                if piece_kind == "end":
                    return
                client.send(piece)
        else:  # drop_response: in the middle of the first chunk's data
            budget = 0
            for piece_kind, piece, chunk_size in pieces:
                if piece_kind == "end":
                    return
                if piece_kind == "size":
                    client.send(piece)
                    budget = int(fault.fraction * chunk_size)
                    if budget == 0:
                        return
                    continue
                client.send(piece[:budget])
                budget -= len(piece)
                if budget <= 0:
                    return


__all__ = [
    "DEFAULT_TIMEOUT",
    "INJECTED_500_BODY",
    "KINDS",
    "MAX_DELAY_MS",
    "Fault",
    "FaultPlan",
    "FaultProxy",
    "FaultRecord",
    "LogEntry",
]


class FakeSleep:
    """A `RetryPolicy.sleep` that records each backoff delay and returns at once, so
    retries are tested without real seconds passing (the link's own faults stay real).
    Safe to share between a replication's threads."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)

    @property
    def total(self) -> float:
        """The seconds a real sleep would have waited."""
        with self._lock:
            return sum(self.delays)
