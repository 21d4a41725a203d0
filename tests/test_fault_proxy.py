"""The fault proxy against a tiny local upstream: exact forwarding, counters, each fault kind."""

from __future__ import annotations

import gzip
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from support.fault_proxy import INJECTED_500_BODY, KINDS, Fault, FaultPlan, FaultProxy, FaultRecord

JSON_BODY = b'{"ok":true,"rows":[1,2,3]}'
CHUNKS = [b'{"results":[', b'{"seq":1},', b'{"seq":2}', b'],"last_seq":2}\n']
GZIP_PLAIN = b'{"docs":[' + b",".join(b'{"_id":"doc-%d"}' % i for i in range(200)) + b"]}"
BIG_BODY = bytes(range(256)) * 400  # 100 KiB, more than one socket read
FIXED_DATE = "Thu, 01 Jan 2026 00:00:00 GMT"  # so direct and proxied bytes can be compared


class Upstream(ThreadingHTTPServer):
    """Records what reached it: (method, path, lower-cased headers, raw body bytes)."""

    daemon_threads = False  # server_close() joins every handler thread

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), UpstreamHandler)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.release = threading.Event()  # lets /gated and /slow finish
        self.errors: list[BaseException] = []

    def handle_error(self, request: object, client_address: object) -> None:
        # The proxy cutting a connection is the point of these tests, not an error.
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, ConnectionError):
            self.errors.append(error)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def paths(self) -> list[str]:
        return [path for _, path, _, _ in self.seen]


class UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection never outlives the test by much
    disable_nagle_algorithm = True  # else each response waits ~40 ms for a delayed ACK
    server: Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return FIXED_DATE

    def version_string(self) -> str:
        return "upstream/1"

    def _raw_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            raw = bytearray()
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while True:
                        trailer = self.rfile.readline()
                        raw += trailer
                        if trailer == b"\r\n":
                            return bytes(raw)
                raw += self.rfile.read(size + 2)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _record(self, body: bytes = b"") -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append((self.command, self.path, headers, body))

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_chunked(self, chunks: list[bytes], gate: threading.Event | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, chunk in enumerate(chunks):
            if i == len(chunks) - 1 and gate is not None:
                gate.wait(5)  # the last chunk waits: a long-poll that is still open
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:
        self._record()
        path = self.path.split("?")[0]
        if path == "/json":
            self._send(200, JSON_BODY)
        elif path == "/big":
            self._send(200, BIG_BODY, {"Content-Type": "application/octet-stream"})
        elif path == "/chunked":
            self._send_chunked(CHUNKS)
        elif path == "/gated":
            self._send_chunked(CHUNKS, gate=self.server.release)
        elif path == "/slow":
            self.server.release.wait(5)
            self._send(200, JSON_BODY)
        elif path == "/gzip":
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
            self._send(200, gzip.compress(GZIP_PLAIN, mtime=0), headers)
        elif path == "/bye":  # answers, then closes without saying so (an idle timeout)
            self._send(200, JSON_BODY)
            self.close_connection = True
        elif path == "/close-delimited":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(JSON_BODY)
        else:
            self._send(404, b'{"error":"not_found","reason":"missing"}')

    def do_HEAD(self) -> None:
        self._record()
        self._send(200, JSON_BODY)

    def do_POST(self) -> None:
        body = self._raw_body()
        self._record(body)
        headers = {"Content-Type": self.headers.get("Content-Type", "application/octet-stream")}
        if "Content-Encoding" in self.headers:
            headers["Content-Encoding"] = self.headers["Content-Encoding"]
        self._send(201, body, headers)

    do_PUT = do_POST


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert server.errors == []


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url, timeout=5) as running:
        yield running
    assert running.errors == []


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send bytes, read until the server closes: everything the client would see."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = bytearray()
        while data := sock.recv(65536):
            received += data
        return bytes(received)


def get(port: int, path: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n" % path.encode()


def proxy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fault-proxy")]


# -- construction -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:5984",
        "http://10.0.0.1:5984",
        "http://0.0.0.0:5984",
        "https://127.0.0.1:6984",
        "http://127.0.0.1:5984/db",
        "http://admin:secret@127.0.0.1:5984",
    ],
)
def test_refuses_non_local_or_non_bare_upstream(url: str) -> None:
    with pytest.raises(ValueError):
        FaultProxy(url)


def test_accepts_localhost_and_bad_plans_are_refused() -> None:
    assert FaultProxy("http://localhost:5984").upstream == "http://localhost:5984"
    with pytest.raises(ValueError):
        FaultPlan(kinds=("explode",))
    with pytest.raises(ValueError):
        FaultPlan(delay_ms=(0, 5000))
    with pytest.raises(ValueError):
        FaultPlan.script(["delay", "nope"])
    with pytest.raises(ValueError):
        Fault("delay", delay_ms=2001)


# -- plain forwarding ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/json", "/chunked", "/big", "/gzip", "/close-delimited"])
def test_get_is_byte_exact_and_counted(upstream: Upstream, proxy: FaultProxy, path: str) -> None:
    request = get(0, path)
    direct = raw_exchange(upstream.server_address[1], request)
    proxied = raw_exchange(proxy.port, request)
    assert proxied == direct
    assert (proxy.bytes_up, proxy.bytes_down, proxy.requests) == (len(request), len(direct), 1)
    (entry,) = proxy.log
    assert entry == ("GET", path, 200, len(request), len(direct))


def test_chunked_request_with_extension_and_trailer_is_byte_exact(
    upstream: Upstream, proxy: FaultProxy
) -> None:
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    request = (
        b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + body
    )
    response = raw_exchange(proxy.port, request)
    assert response.startswith(b"HTTP/1.1 201 ")
    assert response.endswith(b"\r\n\r\n" + body)
    method, path, headers, seen_body = upstream.seen[-1]
    assert (method, path, headers["transfer-encoding"], seen_body) == (
        "POST",
        "/echo",
        "chunked",
        body,
    )
    assert proxy.bytes_up == len(request) and proxy.bytes_down == len(response)


def test_requests_post_get_and_gzip_body_pass_untouched(
    upstream: Upstream, proxy: FaultProxy, session: requests.Session
) -> None:
    doc = json.dumps({"_id": "a", "n": 1}).encode()
    posted = session.post(f"{proxy.url}/db?batch=ok", data=doc, timeout=5)
    assert (posted.status_code, posted.content) == (201, doc)

    packed = gzip.compress(GZIP_PLAIN, mtime=0)
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    echoed = session.post(f"{proxy.url}/db/_bulk_docs", data=packed, headers=headers, timeout=5)
    assert echoed.content == GZIP_PLAIN  # requests decodes the gzip echo
    _, path, seen_headers, seen_body = upstream.seen[-1]
    assert (path, seen_headers["content-encoding"], seen_body) == ("/db/_bulk_docs", "gzip", packed)

    generated = session.put(f"{proxy.url}/db/b", data=iter([b"ab", b"cd"]), timeout=5)
    chunked = b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"  # a generator body goes out chunked
    assert upstream.seen[-1][3] == generated.content == chunked  # (the echo is raw)

    zipped = session.get(f"{proxy.url}/gzip", timeout=5)
    assert zipped.content == GZIP_PLAIN
    head = session.head(f"{proxy.url}/json", timeout=5)
    assert (head.status_code, head.content) == (200, b"")

    assert [(m, p, s) for m, p, s, _, _ in proxy.log] == [
        ("POST", "/db?batch=ok", 201),
        ("POST", "/db/_bulk_docs", 201),
        ("PUT", "/db/b", 201),
        ("GET", "/gzip", 200),
        ("HEAD", "/json", 200),
    ]
    assert sum(e.bytes_up for e in proxy.log) == proxy.bytes_up
    assert sum(e.bytes_down for e in proxy.log) == proxy.bytes_down
    assert proxy.faults == []


def test_keep_alive_on_both_sides_and_reset(
    upstream: Upstream, proxy: FaultProxy, session: requests.Session
) -> None:
    for _ in range(5):
        assert session.get(f"{proxy.url}/json", timeout=5).content == JSON_BODY
    assert (proxy.requests, proxy.connections, proxy.upstream_connections) == (5, 1, 1)
    # The upstream closes an idle keep-alive connection: the proxy reconnects unseen.
    assert session.get(f"{proxy.url}/bye", timeout=5).status_code == 200
    assert session.get(f"{proxy.url}/json", timeout=5).status_code == 200
    assert (proxy.connections, proxy.upstream_connections) == (1, 2)

    proxy.reset_counters()
    assert (proxy.bytes_up, proxy.bytes_down, proxy.requests, proxy.log) == (0, 0, 0, [])
    session.get(f"{proxy.url}/json", timeout=5)
    assert proxy.requests == 1 and proxy.bytes_down > len(JSON_BODY)


def test_streams_a_long_poll_before_it_ends(upstream: Upstream, proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(get(0, "/gated"))
        received = bytearray()
        while CHUNKS[2] not in received:  # everything up to the gated last chunk arrives
            received += sock.recv(65536)
        upstream.release.set()
        while not received.endswith(b"0\r\n\r\n"):
            received += sock.recv(65536)
    assert b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in CHUNKS) + b"0\r\n\r\n" in received


def test_expect_continue_is_answered_by_the_proxy(upstream: Upstream, proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"ping")
        received = bytearray()
        while data := sock.recv(65536):
            received += data
    assert received.startswith(b"HTTP/1.1 201 ") and received.endswith(b"\r\n\r\nping")
    assert "expect" not in upstream.seen[-1][2]


def test_unreachable_upstream_gives_502() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # nothing listens here once it is closed
    with FaultProxy(f"http://127.0.0.1:{port}", timeout=5) as proxy, requests.Session() as s:
        response = s.get(f"{proxy.url}/db", timeout=5)
        assert response.status_code == 502
        assert response.json()["error"] == "bad_gateway"
        assert proxy.errors == []


def test_upstream_slower_than_the_timeout_gives_504(upstream: Upstream) -> None:
    with FaultProxy(upstream.url, timeout=0.2) as proxy, requests.Session() as s:
        response = s.get(f"{proxy.url}/slow", timeout=5)
        assert (response.status_code, response.json()["error"]) == (504, "gateway_timeout")
        assert proxy.errors == []
    upstream.release.set()


# -- faults -------------------------------------------------------------------------


def test_drop_request_never_reaches_upstream(
    upstream: Upstream, proxy: FaultProxy, session: requests.Session
) -> None:
    proxy.plan = FaultPlan.script(["drop_request", "drop_request"])
    with pytest.raises(requests.ConnectionError):
        session.get(f"{proxy.url}/json", timeout=5)
    with pytest.raises(requests.ConnectionError):
        session.post(f"{proxy.url}/db/_bulk_docs", data=BIG_BODY, timeout=5)
    assert upstream.seen == []
    assert session.get(f"{proxy.url}/json", timeout=5).status_code == 200  # script is over
    assert proxy.faults == [
        FaultRecord("drop_request", "GET", "/json"),
        FaultRecord("drop_request", "POST", "/db/_bulk_docs"),
    ]
    assert [e.status for e in proxy.log] == [None, None, 200]


def test_drop_response_before_headers_and_mid_body(
    upstream: Upstream, proxy: FaultProxy, session: requests.Session
) -> None:
    proxy.plan = FaultPlan.script(
        [
            Fault("drop_response", before_headers=True, fraction=0.0),
            Fault("drop_response", before_headers=True, fraction=0.6),
            "drop_response",
            "drop_response",
        ]
    )
    with pytest.raises(requests.ConnectionError):
        session.post(f"{proxy.url}/db", data=b"{}", timeout=5)
    with pytest.raises(requests.ConnectionError):
        session.get(f"{proxy.url}/json", timeout=5)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(f"{proxy.url}/big", timeout=5)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(f"{proxy.url}/chunked", timeout=5)
    assert upstream.paths() == ["/db", "/json", "/big", "/chunked"]  # all were forwarded
    log = proxy.log
    assert [e.status for e in log] == [None, None, 200, 200]
    assert log[0].bytes_down == 0 and 0 < log[1].bytes_down < len("HTTP/1.1 200 OK")
    assert log[2].bytes_down < len(BIG_BODY)


def test_status_500_does_not_forward_and_forward_then_500_does(
    upstream: Upstream, proxy: FaultProxy, session: requests.Session
) -> None:
    proxy.plan = FaultPlan.script(["status_500", "forward_then_500", "forward_then_500"])
    first = session.put(f"{proxy.url}/db/doc1", data=b'{"v":1}', timeout=5)
    assert (first.status_code, first.content) == (500, INJECTED_500_BODY)
    assert first.json() == {"error": "internal_server_error", "reason": "injected"}
    assert upstream.seen == []

    second = session.put(f"{proxy.url}/db/doc2", data=b'{"v":2}', timeout=5)
    assert (second.status_code, second.content) == (500, INJECTED_500_BODY)
    assert upstream.seen[-1][1:4:2] == ("/db/doc2", b'{"v":2}')  # the write did land
    third = session.get(f"{proxy.url}/chunked", timeout=5)  # a chunked answer is drained too
    assert third.status_code == 500

    assert session.get(f"{proxy.url}/json", timeout=5).content == JSON_BODY
    assert proxy.connections == 1  # injected 500s keep the connection alive


def test_truncate_keeps_the_claimed_length_and_drops_the_last_chunk(
    upstream: Upstream, proxy: FaultProxy, session: requests.Session
) -> None:
    proxy.plan = FaultPlan.script([Fault("truncate", fraction=0.5)] * 2 + ["truncate"] * 3)
    received = raw_exchange(proxy.port, get(0, "/big"))
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(BIG_BODY) in head
    assert body == BIG_BODY[: len(BIG_BODY) // 2]

    received = raw_exchange(proxy.port, get(0, "/chunked"))
    assert received.endswith(b"%x\r\n%s\r\n" % (len(CHUNKS[-1]), CHUNKS[-1]))  # no 0\r\n\r\n

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(f"{proxy.url}/json", timeout=5)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(f"{proxy.url}/chunked", timeout=5)
    # Cut gzip: the decoder has nothing wrong to see, the missing length is what fails.
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(f"{proxy.url}/gzip", timeout=5)
    assert len(proxy.faults) == 5 and proxy.requests == 5


def test_delay_waits_before_forwarding(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.plan = FaultPlan.script([Fault("delay", delay_ms=200)])
    started = time.monotonic()
    assert session.get(f"{proxy.url}/json", timeout=5).content == JSON_BODY
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    session.get(f"{proxy.url}/json", timeout=5)
    assert time.monotonic() - started < 0.2


def test_max_faults_bounds_injection(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.plan = FaultPlan(seed=3, rate=1.0, kinds=("status_500",), max_faults=3)
    codes = [session.get(f"{proxy.url}/json", timeout=5).status_code for _ in range(8)]
    assert codes == [500] * 3 + [200] * 5
    assert len(proxy.faults) == 3 and proxy.plan.injected == 3


def test_only_paths_limits_faults(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.plan = FaultPlan(rate=1.0, kinds=("status_500",), only_paths=r"/_bulk_docs\b")
    assert session.get(f"{proxy.url}/json", timeout=5).status_code == 200
    assert session.post(f"{proxy.url}/db/_bulk_docs", data=b"{}", timeout=5).status_code == 500
    assert proxy.faults == [FaultRecord("status_500", "POST", "/db/_bulk_docs")]


def test_plan_decisions_depend_only_on_the_seed() -> None:
    def sequence(seed: int) -> list[Fault | None]:
        plan = FaultPlan(seed=seed, rate=0.3, max_faults=1000)
        return [plan.decide("GET", f"/db/{i}") for i in range(300)]

    assert sequence(1) == sequence(1)
    assert sequence(1) != sequence(2)
    faults = [f for f in sequence(1) if f is not None]
    assert 60 < len(faults) < 120 and {f.kind for f in faults} == set(KINDS)
    assert all(50 <= f.delay_ms <= 500 for f in faults)


def _outcomes(upstream: Upstream, seed: int) -> tuple[list[FaultRecord], list[str]]:
    plan = FaultPlan(seed=seed, rate=0.5, kinds=KINDS[:5], max_faults=100)
    outcomes = []
    with FaultProxy(upstream.url, plan=plan, timeout=5) as proxy, requests.Session() as s:
        for i in range(24):
            try:
                path = "/chunked" if i % 2 else f"/db/doc{i}"
                response = s.post(f"{proxy.url}{path}", data=b"{}", timeout=5)
                outcomes.append(str(response.status_code))
            except requests.RequestException as exc:
                outcomes.append(type(exc).__name__)
        assert proxy.errors == []
        return proxy.faults, outcomes


def test_same_seed_same_faults_through_the_proxy(upstream: Upstream) -> None:
    faults, outcomes = _outcomes(upstream, seed=11)
    assert len(faults) > 5
    assert _outcomes(upstream, seed=11) == (faults, outcomes)
    assert _outcomes(upstream, seed=12)[0] != faults


def test_exit_cuts_long_polls_and_idle_connections_and_joins_threads(
    upstream: Upstream, session: requests.Session
) -> None:
    errors: list[BaseException] = []

    def long_poll() -> None:
        try:
            with requests.Session() as s:
                s.get(f"{proxy.url}/slow", timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    with FaultProxy(upstream.url, timeout=30) as proxy:
        session.get(f"{proxy.url}/json", timeout=5)  # leaves an idle keep-alive connection
        poller = threading.Thread(target=long_poll)
        poller.start()
        while proxy.requests < 2:
            time.sleep(0.01)
        assert len(proxy_threads()) == 3  # accept loop and two connections
        started = time.monotonic()
    assert time.monotonic() - started < 2
    poller.join(5)
    assert not poller.is_alive() and len(errors) == 1
    assert proxy_threads() == [] and proxy.alive_threads() == []
