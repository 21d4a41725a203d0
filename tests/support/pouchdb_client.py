"""Drive real PouchDB (npm ``pouchdb`` in Node) from the tests.

``tests/peers/pouch_driver.js`` is a long-running Node process that answers
line-delimited JSON requests on stdin/stdout; :class:`PouchDB` starts it,
sends requests and turns answers into Python values or :class:`PouchError`.
It lets tests check that our replicator and PouchDB itself interoperate::

    with PouchDB() as pouch:
        local = pouch.open_local("phone")
        remote = pouch.open_remote(couch_db)
        pouch.bulk_docs(local, [{"_id": "a"}])
        result = pouch.replicate(local, remote)

Options are passed to PouchDB unchanged, with PouchDB's own (snake_case)
names: ``pouch.get(db, "a", open_revs="all")``, ``pouch.changes(db, since=3)``.
The ``pouch`` fixture at the end gives each test its own driver process.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PEERS_DIR = Path(__file__).resolve().parent.parent / "peers"
DRIVER_JS = PEERS_DIR / "pouch_driver.js"
NODE_PACKAGES = ("pouchdb", "pouchdb-adapter-memory")

DEFAULT_TIMEOUT = 60.0  # seconds per call; a replication of a few thousand docs fits
START_TIMEOUT = 30.0  # cold `require('pouchdb')` takes ~0.2 s, slow CI machines more
STOP_GRACE = 5.0  # seconds between closing stdin and killing the process group
_STDERR_TAIL_LINES = 40


class PouchError(Exception):
    """An error PouchDB raised inside an op (``not_found`` 404, ``conflict`` 409, ...)."""

    def __init__(
        self,
        name: str,
        status: int | None,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{name} ({status}): {message}")
        self.name = name
        self.status = status
        self.message = message
        # Everything else the driver sent, e.g. "reason", or "result" for a failed replication.
        self.details = details or {}


class PouchDriverError(RuntimeError):
    """The Node driver is missing, died or misbehaved; the message has its stderr tail."""


class PouchTimeout(PouchDriverError):
    """A call got no answer in time (the op may still be running in Node)."""


@dataclass(frozen=True)
class PouchHandle:
    """A database opened in the driver: a memory-adapter name or a remote URL."""

    handle: int
    name: str
    remote: bool


class PouchDB:
    """One ``node pouch_driver.js`` process, used as a context manager.

    Calls are synchronous and one at a time (a lock makes that hold across
    threads); answers to calls that timed out earlier are recognised by their id
    and dropped.
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, node: str | None = None) -> None:
        self.timeout = timeout
        self._node = node
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self._exited = False
        self.versions: dict[str, Any] = {}

    # -- process life cycle -------------------------------------------------

    def __enter__(self) -> PouchDB:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Start the driver and wait until PouchDB is loaded in it."""
        if self._process is not None:
            raise PouchDriverError("the PouchDB driver is already running")
        node = self._node or shutil.which("node")
        missing = [name for name in NODE_PACKAGES if not _installed(name)]
        if node is None or missing:
            what = "node is not on PATH" if node is None else f"npm packages {missing} missing"
            # Fail, not skip: PouchDB is a reference peer, a silent skip would hide a broken set-up.
            pytest.fail(
                f"cannot drive PouchDB ({what} in {PEERS_DIR / 'node_modules'}): "
                "run `./dev test`, which installs Node.js and the test peers with npm",
                pytrace=False,
            )
        # Node resolves require() next to the script, so cwd is free: a temporary directory
        # catches any file a library might write (the memory adapter writes none).
        self._workdir = tempfile.TemporaryDirectory(prefix="pouch-driver-")
        self._process = subprocess.Popen(
            [node, str(DRIVER_JS)],
            cwd=self._workdir.name,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own process group, so stop() can kill all of it
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, name="pouch-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="pouch-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            self.versions = self.call("version", timeout=START_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Close stdin (the driver then exits), kill the group if it lingers, clean up."""
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            pass
        # Killed even after a clean exit, in case node left children behind (none expected).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            if sig == signal.SIGTERM:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=STOP_GRACE)
        process.wait()
        for thread in self._threads:
            thread.join(timeout=STOP_GRACE)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def stderr_tail(self) -> str:
        """The last lines Node wrote to stderr (PouchDB warnings, stray errors)."""
        return "\n".join(self._stderr)

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                answer = json.loads(line)
            except ValueError:
                # The driver routes console output to stderr, so this is a bug; keep it visible.
                self._stderr.append(f"(not JSON on stdout) {line[:500]}")
                continue
            self._answers.put(answer)
        self._answers.put(None)  # EOF: the process is gone

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for raw in self._process.stderr:
            self._stderr.append(raw.decode("utf-8", errors="replace").rstrip())

    def _driver_error(self, what: str, cls: type[PouchDriverError] = PouchDriverError) -> Exception:
        status = ""
        if self._process is not None:
            if cls is not PouchTimeout:  # it has exited or is exiting: let its stderr arrive
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=1)
                for thread in self._threads:
                    thread.join(timeout=1)
            if self._process.poll() is not None:
                status = f" (node exited with status {self._process.returncode})"
        tail = self.stderr_tail() or "(nothing)"
        return cls(f"{what}{status}\n--- last lines of the PouchDB driver's stderr ---\n{tail}")

    # -- requests -----------------------------------------------------------

    def call(self, op: str, *, timeout: float | None = None, **args: Any) -> Any:
        """Send one request and return its ``ok`` result; raise PouchError on an ``error``."""
        if "id" in args or "op" in args:
            raise ValueError("'id' and 'op' are set by call() itself")
        with self._lock:
            process = self._process
            if process is None or process.stdin is None:
                raise PouchDriverError(f"{op}: the PouchDB driver is not running (use `with`)")
            if self._exited:
                raise self._driver_error(f"{op}: the PouchDB driver has exited")
            request_id = self._next_id
            self._next_id += 1
            line = json.dumps({"id": request_id, "op": op, **args}, default=_to_json) + "\n"
            try:
                process.stdin.write(line.encode("utf-8"))
                process.stdin.flush()
            except (BrokenPipeError, OSError):
                raise self._driver_error(f"{op}: the PouchDB driver has exited") from None
            limit = self.timeout if timeout is None else timeout
            deadline = time.monotonic() + limit
            while True:
                remaining = deadline - time.monotonic()
                try:
                    answer = self._answers.get(timeout=max(remaining, 0))
                except queue.Empty:
                    raise self._driver_error(
                        f"{op}: no answer from the PouchDB driver within {limit:g} s", PouchTimeout
                    ) from None
                if answer is None:
                    self._exited = True
                    raise self._driver_error(f"{op}: the PouchDB driver exited during the call")
                answer_id = answer.get("id")
                if answer_id == request_id or (answer_id is None and "error" in answer):
                    break
                # Otherwise it answers an earlier call that timed out: drop it.
        if "error" in answer:
            error = dict(answer["error"])
            raise PouchError(
                str(error.pop("name", "error")),
                error.pop("status", None),
                str(error.pop("message", "")),
                error,
            )
        return answer.get("ok")

    # -- databases ----------------------------------------------------------

    def open_local(self, name: str) -> PouchHandle:
        """A PouchDB database in Node's memory (memory adapter); same name = same data."""
        return self._handle(self.call("open", name=name))

    def open_remote(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        **options: Any,
    ) -> PouchHandle:
        """A PouchDB http database on ``url`` (``skip_setup=True`` to not create it)."""
        auth = {"username": username, "password": password} if username is not None else None
        answer = self.call("open", name=url, auth=auth, options=options)
        return self._handle(answer)

    @staticmethod
    def _handle(answer: dict[str, Any]) -> PouchHandle:
        return PouchHandle(answer["handle"], answer["name"], answer["remote"])

    def info(self, db: PouchHandle) -> dict[str, Any]:
        return self.call("info", db=db)

    def destroy(self, db: PouchHandle) -> dict[str, Any]:
        return self.call("destroy", db=db)

    def close(self, db: PouchHandle) -> None:
        self.call("close", db=db)

    def compact(self, db: PouchHandle) -> dict[str, Any]:
        return self.call("compact", db=db)

    # -- documents ----------------------------------------------------------

    def put(self, db: PouchHandle, doc: dict[str, Any], **options: Any) -> dict[str, Any]:
        return self.call("put", db=db, doc=doc, options=options)

    def get(self, db: PouchHandle, doc_id: str, **options: Any) -> Any:
        """A document, or with ``open_revs`` a list of ``{"ok": doc}`` / ``{"missing": rev}``."""
        return self.call("get", db=db, docid=doc_id, options=options)

    def remove(self, db: PouchHandle, doc_id: str, rev: str) -> dict[str, Any]:
        return self.call("remove", db=db, docid=doc_id, rev=rev)

    def bulk_docs(
        self, db: PouchHandle, docs: list[dict[str, Any]], new_edits: bool = True
    ) -> list[dict[str, Any]]:
        """Per-doc results; failures are entries with ``error``, not exceptions."""
        return self.call("bulkDocs", db=db, docs=docs, options={"new_edits": new_edits})

    def bulk_get(
        self, db: PouchHandle, docs: list[dict[str, Any]], **options: Any
    ) -> dict[str, Any]:
        return self.call("bulkGet", db=db, docs=docs, options=options)

    def all_docs(self, db: PouchHandle, **options: Any) -> dict[str, Any]:
        return self.call("allDocs", db=db, options=options)

    def changes(self, db: PouchHandle, **options: Any) -> dict[str, Any]:
        """One-shot changes feed (``live`` is always off)."""
        return self.call("changes", db=db, options=options)

    def revs_diff(self, db: PouchHandle, diff: dict[str, list[str]]) -> dict[str, Any]:
        return self.call("revsDiff", db=db, diff=diff)

    def put_attachment(
        self,
        db: PouchHandle,
        doc_id: str,
        attachment: str,
        data: bytes,
        content_type: str,
        rev: str | None = None,
    ) -> dict[str, Any]:
        return self.call(
            "putAttachment",
            db=db,
            docid=doc_id,
            attachment=attachment,
            data=base64.b64encode(data).decode("ascii"),
            content_type=content_type,
            rev=rev,
        )

    def get_attachment(
        self, db: PouchHandle, doc_id: str, attachment: str, **options: Any
    ) -> bytes:
        answer = self.call(
            "getAttachment", db=db, docid=doc_id, attachment=attachment, options=options
        )
        return base64.b64decode(answer["data"])

    # -- replication ----------------------------------------------------------

    def replicate(self, source: PouchHandle, target: PouchHandle, **options: Any) -> dict[str, Any]:
        """One-shot ``PouchDB.replicate``; options such as batch_size, doc_ids, selector,
        filter ("ddoc/name"), or filter_js (JavaScript source of a filter function)."""
        return self.call("replicate", source=source, target=target, options=options)

    def sync(self, a: PouchHandle, b: PouchHandle, **options: Any) -> dict[str, Any]:
        """One-shot ``PouchDB.sync``: ``{"push": a->b result, "pull": b->a result}``."""
        return self.call("sync", a=a, b=b, options=options)


def _installed(package: str) -> bool:
    return (PEERS_DIR / "node_modules" / package / "package.json").is_file()


def _to_json(value: object) -> object:
    if isinstance(value, PouchHandle):
        return value.handle
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@pytest.fixture
def pouch() -> Iterator[PouchDB]:
    """A fresh PouchDB driver per test.

    Function scope: memory databases with the same name share data inside one
    Node process, so a fresh process isolates tests for ~0.2 s of start-up, and a
    driver wedged by one test cannot fail the next ones.
    """
    with PouchDB() as driver:
        yield driver
