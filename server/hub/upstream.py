"""A station hub's link to the county: whenever the county is reachable, replicate both
ways with it as the station lead (the station's records go up with their authors kept,
the county's decisions, notices and reference data come down for the station's scope,
which the county's gateway decides from the lead's account).

The hub's own rejection notices stay at the station (the county judges the records again
and writes its own). One round is a push then a pull with `sync.replicator.replicate`
(checkpointed: a round cut short resumes where it stopped, re-sending at most a batch),
then the station's accounts are mirrored. Between rounds the loop waits, never polls
busily: a while after a good round, and after failures an exponential backoff with
jitter (so twenty hubs back in coverage at once do not knock together). The wait is
measured on the wall clock in short slices, so a laptop that slept through its wait
syncs soon after it wakes instead of waiting the sleep again.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from schemas import SERVER_ONLY_TYPES
from sync.errors import NotFound, PeerUnavailable, StoreError
from sync.replicator import replicate
from sync.store import Store

from .accounts import mirror_accounts

# What goes up: everything but the hub's own verdicts (its rejection notices, and their
# withdrawals, which carry no type: hence the id), which the county writes for itself.
STATION_WORK = {
    "_id": {"$regex": "^(?!" + "|".join(f"{t}:" for t in sorted(SERVER_ONLY_TYPES)) + ")"}
}
IDLE_SECONDS = 120.0  # between good rounds: the county's decisions come down this often
BACKOFF_BASE = 5.0
BACKOFF_CAP = 600.0
SLICE_SECONDS = 5.0  # the longest single wait: how soon a wake from sleep is noticed
# Documents per push request: a station's day carries photos (~200 KB each), and the
# county refuses a body over its 16 MiB limit only after reading it whole (then the batch
# is halved and sent again); 50 keeps a photo-heavy batch far below it.
PUSH_BATCH = 50
STATUS_ID = "_local/fieldsync-upstream"  # the last rounds, for the station page


@dataclass
class Round:
    """What one round did; `error` is the bilingual reason it stopped, if it did."""

    sent: int = 0
    received: int = 0
    accounts: int = 0  # the station's accounts the hub added, changed or removed
    started: float = 0.0  # wall-clock time the round began
    refused: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def backoff(failures: int, rng: random.Random) -> float:
    """Seconds to wait after `failures` failed rounds in a row: doubling from
    BACKOFF_BASE up to BACKOFF_CAP, each a random half to whole of that (jitter)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, failures - 1))
    return ceiling * (0.5 + rng.random() / 2)


class Upstream:
    """The hub's store `local` and the county's (`county()` opens it: a CouchStore on the
    county's /db with the lead's credentials); with `accounts` (the hub's accounts store
    and a function opening the county's /accounts as the lead), the station's accounts
    are mirrored too (server/hub/accounts.py)."""

    def __init__(
        self,
        local: Store,
        county: Callable[[], Store],
        *,
        accounts: tuple[Store, Callable[[], Store]] | None = None,
        idle_seconds: float = IDLE_SECONDS,
        station_work: Callable[[], list[str]] | None = None,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.local = local
        self.county = county
        self.accounts = accounts
        self.idle_seconds = idle_seconds
        self.station_work = station_work  # the ids to push (station_work.py); None: all
        self.rng = rng or random.Random()
        self.wall_clock = wall_clock
        self.failures = 0

    def run_once(self) -> Round:
        """A push, then a pull. Refused documents do not fail a round (the county keeps
        them and sends notices); an unreachable county or a broken link does. What the
        round did is kept in the hub's `_local/fieldsync-upstream` for the station page."""
        done = Round(started=self.wall_clock())
        try:
            remote = self.county()
            ids = None if self.station_work is None else self.station_work()
            if ids is None or ids:
                pushed = replicate(self.local, remote, selector=STATION_WORK, doc_ids=ids,
                                   batch_size=PUSH_BATCH)  # fmt: skip
                done.sent, done.refused = pushed.docs_written, list(pushed.failures)
            pulled = replicate(remote, self.local)
            done.received = pulled.docs_written
            if self.accounts is not None:
                hub_accounts, county_accounts = self.accounts
                done.accounts = mirror_accounts(county_accounts(), hub_accounts)
        except (StoreError, requests.RequestException, OSError) as error:
            done.error = _reason(error)
        self.failures = 0 if done.ok else self.failures + 1
        self._keep_status(done)
        return done

    def _keep_status(self, done: Round) -> None:
        status = {
            **read_status(self.local),
            "_id": STATUS_ID,
            "last_attempt": done.started,
            "last_error": done.error,
            "failures": self.failures,
        }
        if done.ok:
            status.update(last_success=self.wall_clock(), last_success_started=done.started,
                          sent=done.sent, received=done.received, accounts=done.accounts,
                          refused=len(done.refused))  # fmt: skip
        with contextlib.suppress(StoreError):  # the status is a courtesy; the round stands
            self.local.put_local(status)

    def next_wait(self) -> float:
        return self.idle_seconds if self.failures == 0 else backoff(self.failures, self.rng)

    def run(
        self, stop: threading.Event, on_round: Callable[[Round], None] = lambda r: None
    ) -> None:
        """Rounds until `stop` is set."""
        while not stop.is_set():
            on_round(self.run_once())
            self._wait(self.next_wait(), stop)

    def _wait(self, seconds: float, stop: threading.Event) -> None:
        deadline = self.wall_clock() + seconds
        while not stop.is_set():
            left = deadline - self.wall_clock()
            if left <= 0:
                return
            stop.wait(min(left, SLICE_SECONDS))


def read_status(store: Store) -> dict:
    """What the hub's last rounds did (`_keep_status`), `_rev` included; {} before any."""
    try:
        return {k: v for k, v in store.get_local(STATUS_ID).items() if k != "_id"}
    except NotFound:
        return {}


def _reason(error: BaseException) -> str:
    if isinstance(error, PeerUnavailable | requests.RequestException | OSError):
        return f"连不上县级服务器。 / The county is unreachable ({type(error).__name__})."
    if isinstance(error, StoreError):
        return (
            f"县级服务器报错（{error.error}）。 / The county answered {error.error}: {error.reason}"
        )
    return f"县级服务器出错。 / The county failed: {type(error).__name__}."
