"""`_changes` in every feed mode CouchDB 3 has, and the slots that bound waiting feeds.

Modes (CouchDB's layouts byte for byte, because clients parse them line by line):

- `normal`: every in-scope change after `since` (paged internally, never cut at a page),
  written as CouchDB writes it: ``{"results":[`` on its own line, one row a line, then
  ``],`` and ``"last_seq":..,"pending":..}``.
- `longpoll`: the same, but when nothing is new it waits (at most `timeout` and the
  server's LONGPOLL_SECONDS) for the first change; with `heartbeat` a newline goes out
  every interval while it waits.
- `continuous` (`live`): one JSON row a line as changes come, newlines as heartbeats,
  and a ``{"last_seq", "pending"}`` line at the end: after `timeout` without a change
  (no `heartbeat` asked), after `limit` rows, or after LONGPOLL_SECONDS in all (clients
  reconnect from `last_seq`, as they do when CouchDB's timeout ends a feed).
- `eventsource`: Server-Sent Events (``data:``/``id:``), heartbeats as
  ``event: heartbeat``.

Any other `feed`, `style`, `heartbeat` or `timeout` is a 400, never answered as something
else. Waiting feeds sleep until a change concerns them (`FeedWaiters`: one dispatcher
thread sleeps on the scope index, whose one follower thread reads the store while any
wait, and wakes only the feeds of the scopes a new change is in; waiters never ask the
store themselves).

Waiting feeds must never hold the worker threads that other requests need. A feed
waits only while it holds one of FEED_SLOTS slots (a semaphore of its own); the server
is built with that many threads more than its `--threads` (`waitress_options`), so
however many feeds wait, `--threads` workers stay for pushes, pulls and pages. A
feed that finds every slot taken is answered at once, as CouchDB answers when its
timeout passes with nothing new; it is never held.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Response, current_app, request, stream_with_context
from flask.blueprints import BlueprintSetupState

from schemas import place_level
from sync.documents import dump_json
from sync.errors import BadRequest
from sync.selector import compile_selector

from ..accounts.auth import current_user
from ..accounts.users import User
from ..http_io import GZIP_MIN_BYTES, flag, int_arg, json_arg, json_body
from ..policy import reads_personal
from ..services import services
from .scope import IndexEntry, ScopeIndex

CHANGES_PAGE = 1000  # rows read from the index at a time; never a limit on the answer
DEFAULT_FEED_SLOTS = 400  # feeds that may wait at once (FIELDSYNC_FEED_SLOTS)
DEFAULT_TIMEOUT_MS = 60_000  # CouchDB's changes_timeout
FEED_MODES = {"normal": "normal", "longpoll": "longpoll", "continuous": "continuous"}
FEED_MODES |= {"live": "continuous", "eventsource": "eventsource"}
EXTENSION = "fieldsync.feeds"
WAITERS, WAITERS_LOCK = "fieldsync.feeds.waiters", "fieldsync.feeds.waiters_lock"


# -- the slots and the server they need ---------------------------------------------------------


class FeedSlots:
    """At most `size` feeds wait at once; `take` never blocks."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._free <= 0:
                return False
            self._free -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._free = min(self.size, self._free + 1)

    @property
    def waiting(self) -> int:
        with self._lock:
            return self.size - self._free


class Waiter:
    """One waiting feed: its scope, and an event set when a change may concern it."""

    __slots__ = ("scope", "level", "personal", "woken")

    def __init__(self, user: User) -> None:
        self.scope, self.level = user.scope, place_level(user.scope)
        self.personal = reads_personal(user)
        self.woken = threading.Event()

    def wait(self, timeout: float) -> bool:
        """Whether a change in scope may have come (then the feed reads the index again)."""
        woken = self.woken.wait(max(0.0, timeout))
        self.woken.clear()
        return woken


class FeedWaiters:
    """Wakes only the waiting feeds a change may concern. One dispatcher thread (while
    any feed waits) sleeps on the scope index (`ScopeIndex.wait_beyond`: the index's
    follower reads the store; nobody here does), reads which places the newly indexed
    changes are in (one indexed query) and wakes the feeds of those scopes. Waking every
    feed on every change cost each of them an index query per change anywhere in the
    county: with 200 tablets in live sync it doubled the others' sync times."""

    def __init__(self, index: ScopeIndex) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._waiters: set[Waiter] = set()
        self._dispatcher: threading.Thread | None = None
        self._seen = 0

    @contextmanager
    def waiting(self, user: User) -> Iterator[Waiter]:
        """Register a waiting feed. Read the index after entering: a change indexed from
        then on wakes it (one made before is in what it reads)."""
        waiter = Waiter(user)
        with self._lock:
            self._waiters.add(waiter)
            if self._dispatcher is None:
                self._seen = self.index.latest_gseq()
                self._dispatcher = threading.Thread(
                    target=self._dispatch, name="feed-dispatcher", daemon=True
                )
                self._dispatcher.start()
        try:
            yield waiter
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if not self._waiters:
                    self._dispatcher = None
                    return
                seen = self._seen
            started = time.monotonic()
            latest = self.index.wait_beyond(seen, DISPATCH_SECONDS)
            if latest <= seen:
                if time.monotonic() - started < DISPATCH_SECONDS / 2:
                    time.sleep(0.05)  # the index is closing: do not spin
                continue
            # Changes come in bursts (a push's batches, each indexed on its own): gather
            # them for a moment, so a feed is woken once for the burst, not per batch.
            time.sleep(COALESCE_SECONDS)
            latest = max(latest, self.index.latest_gseq())
            try:
                changed = self.index.places_changed(seen, latest)
            except Exception:  # noqa: BLE001 - the index is away: wake everybody to read it
                changed = None
            with self._lock:
                self._seen = latest
                for waiter in self._waiters:
                    if changed is None or _concerns(changed, waiter):
                        waiter.woken.set()


DISPATCH_SECONDS = 1.0
COALESCE_SECONDS = 0.3  # a feed's added latency, against waking it once per batch


def _concerns(changed: set[tuple[str, str, bool]], waiter: Waiter) -> bool:
    return (waiter.level, waiter.scope, False) in changed or (
        waiter.personal and (waiter.level, waiter.scope, True) in changed
    )


def feed_slots(config: Mapping) -> int:
    """FEED_SLOTS of an app's configuration (FIELDSYNC_FEED_SLOTS), default 400."""
    value = int(config.get("FEED_SLOTS", DEFAULT_FEED_SLOTS))
    if not 0 <= value <= 10_000:
        raise ValueError(f"FEED_SLOTS must be from 0 to 10000, not {value}")
    return value


def waitress_options(config: Mapping, threads: int) -> dict[str, object]:
    """The waitress settings (`waitress.create_server(app, **these, host=.., port=..)`) of
    a server whose `threads` workers must stay free however many feeds wait: a thread
    for every feed slot besides them, room for every waiting tablet's connections, poll()
    instead of select() (which fails past 1,024 sockets), and an idle timeout longer
    than any feed's wait."""
    slots = feed_slots(config)
    total = threads + slots
    longest_wait = float(config.get("LONGPOLL_SECONDS", 55))
    return {
        "threads": total,
        "connection_limit": max(100, 2 * total + 100),
        "asyncore_use_poll": True,
        "channel_timeout": max(120, int(longest_wait) + 60),
    }


def init_slots(state: BlueprintSetupState) -> None:
    """For `Blueprint.record_once`: one FeedSlots per app, sized from its configuration,
    and the app's FeedWaiters (once its services, opened first, are there)."""
    state.app.extensions[EXTENSION] = FeedSlots(feed_slots(state.app.config))
    state.app.extensions[WAITERS] = None
    state.app.extensions[WAITERS_LOCK] = threading.Lock()


def slots() -> FeedSlots:
    return current_app.extensions[EXTENSION]


def waiters() -> FeedWaiters:
    extensions = current_app.extensions
    with extensions[WAITERS_LOCK]:
        if extensions[WAITERS] is None:
            extensions[WAITERS] = FeedWaiters(services().scope)
        return extensions[WAITERS]


# -- the request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedRequest:
    mode: str
    since: int
    limit: int | None
    all_leaves: bool  # style=all_docs
    include_docs: bool
    descending: bool
    heartbeat: float | None  # seconds between heartbeats while waiting
    timeout: float  # seconds a waiting feed waits for a change
    longest: float  # seconds a feed may be held in all (LONGPOLL_SECONDS)
    doc_ids: list[str] | None
    selector: Callable[[Mapping], bool] | None

    @property
    def streamed(self) -> bool:
        return self.mode in ("continuous", "eventsource") or (
            self.mode == "longpoll" and self.heartbeat is not None
        )


def parse_request(user: User, index: ScopeIndex) -> FeedRequest:
    args = request.args
    mode = FEED_MODES.get(args.get("feed", "normal"))
    if mode is None:
        raise BadRequest("Supported `feed` types: normal, continuous, live, longpoll, eventsource")
    style = args.get("style", "main_only")
    if style not in ("main_only", "all_docs"):
        raise BadRequest("style must be main_only or all_docs")
    descending = flag("descending")
    if descending and mode != "normal":
        raise BadRequest("descending is only supported with feed=normal")
    resumed = request.headers.get("Last-Event-ID") if mode == "eventsource" else None
    if args.get("since") == "now":
        since = index.last_seq(user.scope, personal=reads_personal(user))
    elif resumed is not None and "since" not in args:  # an EventSource reconnecting
        if not (resumed.isascii() and resumed.isdigit() and len(resumed) <= 18):
            raise BadRequest("Last-Event-ID must be a sequence this server gave")
        since = int(resumed)
    else:  # bounded: SQLite's integers end at 2**63 - 1 (a larger since was a 500)
        since = _seq_arg("since", 0)
    limit = int_arg("limit", -1, low=0, high=2**62) if "limit" in args else None
    heartbeat = None
    if "heartbeat" in args:
        raw = args["heartbeat"]
        beat_ms = DEFAULT_TIMEOUT_MS if raw == "true" else int_arg("heartbeat", 0, low=1)
        heartbeat = max(beat_ms, 100) / 1000
    longest = float(current_app.config["LONGPOLL_SECONDS"])
    timeout = min(int_arg("timeout", DEFAULT_TIMEOUT_MS, high=3_600_000) / 1000, longest)
    doc_ids, selector = _filter(args.get("filter"))
    return FeedRequest(
        mode=mode,
        since=since,
        limit=limit,
        all_leaves=style == "all_docs",
        include_docs=flag("include_docs"),
        descending=descending,
        heartbeat=heartbeat,
        timeout=timeout,
        longest=longest,
        doc_ids=doc_ids,
        selector=selector,
    )


def _seq_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is not None and raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        raw = raw[1:-1]  # a sequence passed back JSON-quoted, as some clients do
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
            raise BadRequest(f"query parameter {name} must be a sequence this server gave")
        return min(int(raw), 2**63 - 1)
    return int_arg(name, default, high=2**63 - 1)


def _filter(name: str | None) -> tuple[list[str] | None, Callable[[Mapping], bool] | None]:
    if name is None:
        return None, None
    body = json_body() if request.method == "POST" and request.get_data(cache=True) else {}
    if not isinstance(body, dict):
        raise BadRequest("the body of POST _changes must be a JSON object")
    if name == "_doc_ids":
        doc_ids = body.get("doc_ids") if request.method == "POST" else json_arg("doc_ids")
        if not isinstance(doc_ids, list) or not all(isinstance(i, str) for i in doc_ids):
            raise BadRequest("filter=_doc_ids needs a list of document ids in doc_ids")
        return doc_ids, None
    if name == "_selector":
        if "selector" not in body:
            raise BadRequest('filter=_selector needs a POST body {"selector": {...}}')
        return None, compile_selector(body["selector"])
    raise BadRequest(
        "only the _doc_ids and _selector filters are supported; scope is applied for you"
    )


# -- reading the index ------------------------------------------------------------------------


class Scan:
    """The caller's changes after a sequence, read from the index a page at a time.
    `position` is the last gateway sequence read (a filter may leave rows out, and
    `last_seq` still passes them, so a filter matching nothing does not rescan)."""

    def __init__(self, user: User, feed: FeedRequest, index: ScopeIndex) -> None:
        self.user, self.feed, self.index = user, feed, index
        self.position = feed.since
        self.remaining = feed.limit  # rows still to hand out (None: no limit)
        self.exhausted = False  # the last read reached the end of the index

    @property
    def done(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def page(self) -> list[dict]:
        """The next page of rows (possibly empty when a filter left them all out)."""
        if self.done:
            return []
        size = CHANGES_PAGE if self.remaining is None else min(CHANGES_PAGE, self.remaining)
        entries = self.index.changes(
            self.user.scope,
            self.position,
            size,
            personal=reads_personal(self.user),
            doc_ids=self.feed.doc_ids,
        )
        self.exhausted = len(entries) < size
        if entries:
            self.position = entries[-1].gseq
        rows = rows_of(entries, self.feed)
        if self.remaining is not None:
            self.remaining -= len(rows)
        return rows

    def pending(self) -> int:
        return self.index.count_changes_after(
            self.user.scope,
            self.position,
            personal=reads_personal(self.user),
            doc_ids=self.feed.doc_ids,
        )


def rows_of(entries: list[IndexEntry], feed: FeedRequest) -> list[dict]:
    """Change rows of index entries; the winners' bodies read in one store call when a
    row needs them (include_docs, or a selector to test)."""
    bodies: dict[str, dict | None] = {}
    if entries and (feed.include_docs or feed.selector is not None):
        answers = services().store.bulk_get(
            [{"id": e.doc_id, "rev": e.leaves[0]} for e in entries], revs=False
        )
        for entry, answer in zip(entries, answers, strict=True):
            found = answer["docs"][0] if answer.get("docs") else {}
            bodies[entry.doc_id] = found.get("ok")
    rows = []
    for entry in entries:
        body = bodies.get(entry.doc_id)
        if feed.selector is not None and not (body is not None and feed.selector(body)):
            continue
        revs = entry.leaves if feed.all_leaves else entry.leaves[:1]
        row: dict = {"seq": entry.gseq, "id": entry.doc_id, "changes": [{"rev": r} for r in revs]}
        if entry.deleted:
            row["deleted"] = True
        if feed.include_docs:
            row["doc"] = body
        rows.append(row)
    return rows


# -- the endpoint -----------------------------------------------------------------------------


def changes() -> Response:
    user = current_user()
    index = services().scope
    feed = parse_request(user, index)
    if feed.descending:
        return _descending(user, feed, index)
    scan = Scan(user, feed, index)
    if feed.streamed:
        return _streamed(scan)
    rows = scan.page()
    if feed.mode == "longpoll" and not rows and not scan.done:
        rows = _catch_up_rows(scan) if not scan.exhausted else []
        if not rows and not scan.done:
            rows = _wait_for_rows(scan)
    if scan.exhausted or scan.done:
        return _normal_body_at_once(rows, scan)
    return _normal_body_streamed(rows, scan)


def _wait_for_rows(scan: Scan) -> list[dict]:
    """Longpoll: wait, holding a slot, until a row comes or the timeout passes. Without a
    free slot, nothing is waited for (answered at once, like a timeout)."""
    feed_slots_ = slots()
    if not feed_slots_.take():
        return []
    try:
        deadline = time.monotonic() + scan.feed.timeout
        with waiters().waiting(scan.user) as waiter:
            rows = _catch_up_rows(scan)  # a change made before the waiter was registered
            while not rows and (remaining := deadline - time.monotonic()) > 0:
                if waiter.wait(remaining):
                    rows = _catch_up_rows(scan)
            return rows
    finally:
        feed_slots_.give_back()


def _catch_up_rows(scan: Scan) -> list[dict]:
    """Rows up to the index's end (several pages when a filter leaves many out)."""
    rows = scan.page()
    while not rows and not scan.exhausted and not scan.done:
        rows = scan.page()
    return rows


def _normal_head() -> bytes:
    return b'{"results":[\n'


def _normal_tail(scan: Scan) -> bytes:
    return f'\n],\n"last_seq":{scan.position},"pending":{scan.pending()}}}\n'.encode()


def _joined(rows: list[dict], first: bool) -> bytes:
    text = ",\r\n".join(dump_json(row) for row in rows)
    return (text if first or not rows else ",\r\n" + text).encode("utf-8")


def _normal_body_at_once(rows: list[dict], scan: Scan) -> Response:
    body = _normal_head() + _joined(rows, True) + _normal_tail(scan)
    response = Response(body, mimetype="application/json")
    if len(body) >= GZIP_MIN_BYTES and _accepts_gzip():
        response.set_data(zlib.compress(body, 5, wbits=31))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
    return response


def _normal_body_streamed(first_rows: list[dict], scan: Scan) -> Response:
    """A feed longer than a page: written page by page (memory stays one page)."""

    def body() -> Iterator[bytes]:
        yield _normal_head() + _joined(first_rows, True)
        wrote = bool(first_rows)
        while not scan.exhausted and not scan.done:
            rows = scan.page()
            if rows:
                yield _joined(rows, not wrote)
                wrote = True
        yield _normal_tail(scan)

    return _stream(body(), "application/json", compress=_accepts_gzip())


def _descending(user: User, feed: FeedRequest, index: ScopeIndex) -> Response:
    """Newest change first (feed=normal only); `last_seq` is the oldest row's seq."""
    wanted = feed.limit
    rows: list[dict] = []
    before = None
    while wanted is None or len(rows) < wanted:
        size = CHANGES_PAGE if wanted is None else min(CHANGES_PAGE, wanted - len(rows))
        entries = index.changes(
            user.scope,
            feed.since,
            size,
            personal=reads_personal(user),
            doc_ids=feed.doc_ids,
            descending=True,
            before=before,
        )
        if not entries:
            break
        before = entries[-1].gseq
        rows += rows_of(entries, feed)
        if len(entries) < size:
            break
    scan = Scan(user, feed, index)
    scan.position = rows[-1]["seq"] if rows else feed.since
    body = _normal_head() + _joined(rows, True)
    body += f'\n],\n"last_seq":{scan.position},"pending":0}}\n'.encode()
    return Response(body, mimetype="application/json")


def _streamed(scan: Scan) -> Response:
    feed = scan.feed
    if feed.mode == "eventsource":
        response = _stream(_held(scan, _eventsource_rows, _eventsource_beat), "text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        return response
    if feed.mode == "continuous":
        return _stream(_held(scan, _continuous_rows, lambda: b"\n"), "application/json")
    return _stream(_held_longpoll(scan), "application/json")


def _continuous_rows(rows: list[dict]) -> bytes:
    return b"".join(dump_json(row).encode("utf-8") + b"\n" for row in rows)


def _eventsource_rows(rows: list[dict]) -> bytes:
    return b"".join(
        b"data: " + dump_json(row).encode("utf-8") + b"\nid: " + str(row["seq"]).encode() + b"\n\n"
        for row in rows
    )


def _eventsource_beat() -> bytes:
    return b"event: heartbeat\ndata: \n\n"


def _held(
    scan: Scan, write: Callable[[list[dict]], bytes], beat: Callable[[], bytes]
) -> Iterator[bytes]:
    """A continuous or eventsource feed: what is there, then changes as they come while
    a slot is held (none free: the feed ends at once, as at a timeout)."""
    feed = scan.feed
    feed_slots_ = slots()
    holding = False
    try:
        while not scan.exhausted and not scan.done:
            rows = scan.page()
            if rows:
                yield write(rows)
        holding = not scan.done and feed_slots_.take()
        if holding:
            yield from _follow(scan, write, beat)
        if feed.mode == "continuous":
            yield dump_json({"last_seq": scan.position, "pending": scan.pending()}).encode() + b"\n"
    finally:
        if holding:
            feed_slots_.give_back()


def _follow(
    scan: Scan, write: Callable[[list[dict]], bytes], beat: Callable[[], bytes]
) -> Iterator[bytes]:
    """Wait for changes and write them, heartbeats between, until the feed's time is up:
    `timeout` without a change (when no heartbeat was asked), or LONGPOLL_SECONDS in all."""
    feed = scan.feed
    started = time.monotonic()
    end = started + feed.longest
    idle_end = end if feed.heartbeat is not None else min(end, started + feed.timeout)
    next_beat = started + feed.heartbeat if feed.heartbeat is not None else end
    yield b""  # the headers go out now: the client knows the feed is open
    with waiters().waiting(scan.user) as waiter:
        woken = True  # read once after registering: a change made just before
        while not scan.done:
            if woken:
                rows = _catch_up_rows(scan)
                if rows:
                    yield write(rows)
                    if feed.heartbeat is None:
                        idle_end = min(end, time.monotonic() + feed.timeout)
                    continue
            now = time.monotonic()
            if now >= idle_end:
                return
            if feed.heartbeat is not None and now >= next_beat:
                yield beat()
                next_beat = now + feed.heartbeat
            woken = waiter.wait(min(idle_end, next_beat) - now)


def _held_longpoll(scan: Scan) -> Iterator[bytes]:
    """Longpoll with heartbeats: newlines while waiting for the first change, then the
    normal body (CouchDB sends its heartbeats before the JSON object)."""
    feed = scan.feed
    rows = _catch_up_rows(scan)
    feed_slots_ = slots()
    holding = not rows and not scan.done and feed_slots_.take()
    try:
        if holding:
            started = time.monotonic()
            end = started + feed.longest
            next_beat = started + (feed.heartbeat or feed.longest)
            yield b""
            with waiters().waiting(scan.user) as waiter:
                rows = _catch_up_rows(scan)  # a change made before registering
                while not rows and (now := time.monotonic()) < end:
                    if waiter.wait(min(end, next_beat) - now):
                        rows = _catch_up_rows(scan)
                    if not rows and time.monotonic() >= next_beat:
                        yield b"\n"
                        next_beat = time.monotonic() + (feed.heartbeat or feed.longest)
        yield _normal_head() + _joined(rows, True)
        while rows and not scan.exhausted and not scan.done:
            more = scan.page()
            if more:
                yield _joined(more, False)
        yield _normal_tail(scan)
    finally:
        if holding:
            feed_slots_.give_back()


def _accepts_gzip() -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "")


def _stream(chunks: Iterator[bytes], mimetype: str, *, compress: bool = False) -> Response:
    if compress:
        chunks = _gzipped(chunks)
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    if compress:
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not hold rows back
    return response


def _gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(5, zlib.DEFLATED, 31)
    for chunk in chunks:
        if packed := packer.compress(chunk):
            yield packed
    yield packer.flush()
