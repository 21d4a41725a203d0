"""Who may read and write what through `/db/`: every endpoint x every role x documents in
and out of scope (personal and not), generated as a table and run over both backends.

The rules under test (server/gateway.py, server/arrival.py):

- a user reads a document only when its place is inside the user's scope (place codes are
  prefix-hierarchical), and home visits and households never reach admins;
- a document the caller may not see is answered exactly like one that never existed: the
  same status and body, once the two ids are replaced by a placeholder;
- a write is accepted only for a type the role may write, placed inside the scope, onto a
  document the caller may see; anything else is refused per document with `forbidden`,
  kept in the quarantine, and answered with a rejection notice in the caller's own place;
  no refusal names a place outside the caller's scope or repeats another user's data;
- `_local` checkpoints are per user; anonymous and wrong-password callers get 401;
- a hub's endpoints: only a station lead reads `/accounts/` (its station's people's
  accounts, nobody else's) and the station page; no `/db/` endpoint serves an account.

One county per backend is built for the whole module (users, the documents of two
villages in different townships, county-level reference data, photos). Tests that write
use documents of their own, and what a user should see is computed from the county
store itself, so the order tests run in does not matter.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import support.county as gateway_fixtures
from support.county import OTHER_VILLAGE, PASSWORD, VILLAGE, County

from schemas import new_doc_id, place_within
from schemas.rejection_notice import notice_id
from server.demo_county import DemoCounty, Village, recorded_by
from server.services import services
from sync.errors import NotFound
from sync.http_client import basic_auth, quote_id
from sync.store import Store

COUNTY_CODE = VILLAGE[:6]
TOWNSHIP_A = VILLAGE[:9]
TOWNSHIP_B = OTHER_VILLAGE[:9]
GRID_A1, GRID_A2 = VILLAGE + "001", VILLAGE + "002"
GRID_B1 = OTHER_VILLAGE + "001"
PERSONAL = frozenset({"home_visit", "household"})
WRITABLE = {
    "volunteer": frozenset({"patrol", "water_source", "home_visit", "household"}),
    "station_lead": frozenset({"patrol", "water_source", "home_visit", "household"}),
    "county_staff": frozenset({"patrol", "water_source", "home_visit", "household"}),
    "admin": frozenset({"place", "team", "station", "user"}),
}
PHOTO = b"\xff\xd8\xff\xe0 a water source in the valley, photographed " + bytes(range(256))

# username -> (role, scope)
USERS: dict[str, tuple[str, str]] = {
    "vol-grid": ("volunteer", GRID_A1),
    "vol-a": ("volunteer", VILLAGE),
    "lead-a": ("station_lead", VILLAGE),
    "staff-township": ("county_staff", TOWNSHIP_A),
    "staff-county": ("county_staff", COUNTY_CODE),
    "admin-county": ("admin", COUNTY_CODE),
    "admin-township-b": ("admin", TOWNSHIP_B),
    "vol-b": ("volunteer", OTHER_VILLAGE),
}

# The seeded documents: key -> (type, place, with a photo). Field records get DemoCounty
# bodies; reference documents are DemoCounty's own place, team and station documents.
SEEDS: dict[str, tuple[str, str, bool]] = {
    "household-a": ("household", GRID_A1, False),
    "home_visit-a": ("home_visit", GRID_A1, True),
    "patrol-a1": ("patrol", GRID_A1, True),
    "patrol-a2": ("patrol", GRID_A2, False),
    "water-a": ("water_source", VILLAGE, False),
    "place-a": ("place", VILLAGE, False),
    "station-a": ("station", VILLAGE, False),
    "household-b": ("household", GRID_B1, False),
    "home_visit-b": ("home_visit", GRID_B1, True),
    "patrol-b": ("patrol", GRID_B1, False),
    "water-b": ("water_source", OTHER_VILLAGE, True),
    "team-b": ("team", OTHER_VILLAGE, False),
    "place-county": ("place", COUNTY_CODE, False),
}


def may_see(username: str, doc_type: str, place: str | None) -> bool:
    role, scope = USERS[username]
    if not place:
        return False
    return place.startswith(scope) and not (doc_type in PERSONAL and role == "admin")


def may_write(username: str, doc_type: str, place: str) -> bool:
    role, scope = USERS[username]
    return (
        doc_type in WRITABLE[role]
        and place.startswith(scope)
        and may_see(username, doc_type, place)
    )


# -- the county -----------------------------------------------------------------------------


@dataclass
class World:
    county: County
    store: Store
    docs: dict[str, dict]  # seed key -> the document as stored (with _rev)
    places: dict[str, str] = field(default_factory=dict)  # doc id -> place, for tombstones
    demo: DemoCounty = field(default_factory=lambda: DemoCounty(seed=20240825))
    sessions: dict[str, requests.Session] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.county.url}/db/{path}"

    def session(self, username: str) -> requests.Session:
        """The user's logged-in session, kept open (keep-alive) for the whole module."""
        if username not in self.sessions:
            session = self.sessions[username] = KeptSession()
            session.headers["Authorization"] = basic_auth(username, PASSWORD)
            session.headers["X-Fieldsync-Device"] = f"tablet-{username}"
        return self.sessions[username]

    def village(self, code: str) -> Village:
        return next(v for v in self.demo.villages if v.code == code[:12])

    def new_doc(self, doc_type: str, place: str, author: str | None = None) -> dict:
        """A valid document of `doc_type` at `place`, not stored; a field record made by
        `author` (a username) with the village's volunteer, when given."""
        village = self.village(place if len(place) >= 12 else VILLAGE)
        if doc_type == "household":
            doc = self.demo.household(village)
        elif doc_type == "home_visit":
            doc = self.demo.home_visit(village, self.demo._id("household"))
        elif doc_type == "patrol":
            doc = self.demo.patrol(village)
        elif doc_type == "water_source":
            doc = self.demo.water_source(village)
        elif doc_type == "team":
            doc = next(d for d in self.demo.reference() if d["_id"] == f"team:{village.code}")
            doc = {**doc, "_id": f"team:t-{uuid.uuid4().hex[:12]}"}
        else:
            raise ValueError(doc_type)
        doc["place"] = place
        if author and doc_type != "team":
            volunteer = "vol-b" if place.startswith(OTHER_VILLAGE) else "vol-a"
            (doc,) = recorded_by([doc], author, taking_part=[volunteer])
        self.places[doc["_id"]] = place
        return doc

    def stored(
        self, doc_type: str, place: str, photo: bool = False, author: str | None = None
    ) -> dict:
        """A new document written straight into the county store (as replication would)."""
        doc = self.new_doc(doc_type, place, author)
        if photo:
            doc["_attachments"] = {
                "photo.jpg": {
                    "content_type": "image/jpeg",
                    "data": base64.b64encode(PHOTO).decode(),
                }
            }
        (row,) = self.store.bulk_docs([doc])
        assert row.get("ok"), row
        return self.store.get(doc["_id"])

    def visible_ids(self, username: str, *, live_only: bool = False) -> set[str]:
        """What `username` should see: computed from the county store, not the gateway."""
        ids = set()
        for row in self.store.changes(since=0, include_docs=True, style="all_docs"):
            doc = row.get("doc") or {}
            place = doc.get("place") if isinstance(doc.get("place"), str) else None
            place = place or self.places.get(row["id"])
            doc_type = doc.get("type") or row["id"].partition(":")[0]
            if live_only and row.get("deleted"):
                continue
            if may_see(username, doc_type, place):
                ids.add(row["id"])
        return ids

    def leaves(self, doc_id: str) -> list[dict]:
        """Every leaf revision the county store holds for `doc_id`, winner first."""
        return [row["ok"] for row in self.store.open_revs(doc_id, "all", revs_history=False)]

    def quarantined(self) -> list[tuple[str, str, str]]:
        """(id, `_rev` as pushed, who) of every quarantined revision."""
        with self.county.app.app_context(), services().db.read() as conn:
            rows = conn.execute("SELECT doc_id, body, username FROM quarantine").fetchall()
        return [(doc_id, str(json.loads(body).get("_rev", "")), who) for doc_id, body, who in rows]


class KeptSession(requests.Session):
    """A session that `with` does not close: the module's world closes it at the end."""

    def __exit__(self, *exc_info: object) -> None:
        pass


@contextmanager
def live_county(data_dir: Path, couch_url: str | None) -> Iterator[County]:
    """A county for a whole module: longpolls wait 3 s for a write to land; the 401 table
    logs in wrongly on purpose, often, so the login limit is out of its way."""
    with gateway_fixtures.live_county(
        data_dir, couch_url, LONGPOLL_SECONDS=3, LOGIN_MAX_FAILURES=1_000_000
    ) as county:
        yield county


@pytest.fixture(scope="module", params=["embedded", "couchdb"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    couch_url = request.getfixturevalue("couch_url") if request.param == "couchdb" else None
    with live_county(tmp_path_factory.mktemp("county"), couch_url) as county:
        for username, (role, scope) in USERS.items():
            county.add_user(username, role, scope)
        store = county.app.extensions["fieldsync"].store
        world = World(county, store, {})
        reference = {d["_id"]: d for d in world.demo.reference()}
        for key, (doc_type, place, photo) in SEEDS.items():
            if doc_type in ("place", "station"):
                doc = reference[f"{doc_type}:{place}"]
                (row,) = store.bulk_docs([doc])
                assert row.get("ok"), row
                world.places[doc["_id"]] = place
                world.docs[key] = store.get(doc["_id"])
            else:
                world.docs[key] = world.stored(doc_type, place, photo)
        with county.app.app_context():
            # As in a county that has run a while: the index has read the seeded store
            # (`_revs_diff` answers a document it has not read yet as missing).
            services().scope.catch_up()
        yield world
        for session in world.sessions.values():
            session.close()


def never_existing_id(doc_id: str) -> str:
    """An id of the same type and shape that no document has ever had."""
    doc_type = doc_id.partition(":")[0]
    if doc_type in ("place", "team", "station", "user"):
        return f"{doc_type}:nobody-{uuid.uuid4().hex[:8]}"
    return new_doc_id(doc_type, 1_700_000_000_000, uuid.uuid4().bytes[:10])


def hidden_strings(world: World, username: str, doc: dict) -> set[str]:
    """What a refusal or error shown to `username` must never contain about `doc`: the place
    codes outside the user's scope, and the document's own content."""
    _, scope = USERS[username]
    place = world.places.get(doc["_id"], doc.get("place", ""))
    codes = {place[:n] for n in (9, 12, 15) if len(place) >= n}
    secrets = {code for code in codes if not place_within(code, scope)}
    for name in ("head_of_household", "address", "zone", "terrain", "name", "name_zh", "author"):
        if isinstance(doc.get(name), str) and not may_see(username, doc["type"], place):
            secrets.add(doc[name])
    return secrets


def leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s and s in text)


# -- reads, one document at a time --------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)

    def masked(self, *ids: str) -> tuple[int, str, str]:
        """The answer with every id replaced by a placeholder, for comparing two answers."""
        text = self.body.decode("utf-8", "replace")
        for doc_id in ids:
            text = text.replace(doc_id, "<ID>").replace(quote_id(doc_id), "<ID>")
        return self.status, self.content_type, text


def ask(session: requests.Session, method: str, url: str, **kwargs: object) -> Answer:
    response = session.request(method, url, timeout=30, **kwargs)
    return Answer(response.status_code, response.headers.get("Content-Type", ""), response.content)


# Each reader asks about one document (id, the revision the county holds) and returns the
# answer; `check` says what a reader that may see the document must get.
Reader = Callable[[World, requests.Session, str, str], Answer]


def _get(query: str) -> Reader:
    return lambda w, s, doc_id, rev: ask(s, "GET", w.url(quote_id(doc_id)) + query.format(rev=rev))


def _read_changes(method: str, **args: str) -> Reader:
    def read(w: World, s: requests.Session, doc_id: str, rev: str) -> Answer:
        params = {"filter": "_doc_ids", **args}
        if method == "GET":
            params["doc_ids"] = json.dumps([doc_id])
            return ask(s, "GET", w.url("_changes"), params=params)
        return ask(s, "POST", w.url("_changes"), params=params, json={"doc_ids": [doc_id]})

    return read


READERS: dict[str, Reader] = {
    "get": _get(""),
    "get_rev": _get("?rev={rev}"),
    "get_revs": _get("?revs=true"),
    "get_conflicts": _get("?conflicts=true&deleted_conflicts=true"),
    "get_attachments": _get("?attachments=true"),
    "get_open_revs_all": _get("?open_revs=all&revs=true"),
    "get_open_revs_list": _get('?open_revs=["{rev}"]'),
    "attachment": _get("/photo.jpg"),
    "attachment_rev": _get("/photo.jpg?rev={rev}"),
    "all_docs_keys": lambda w, s, doc_id, rev: ask(
        s, "POST", w.url("_all_docs"), params={"include_docs": "true"}, json={"keys": [doc_id]}
    ),
    "bulk_get": lambda w, s, doc_id, rev: ask(
        s,
        "POST",
        w.url("_bulk_get"),
        params={"revs": "true", "attachments": "true"},
        json={"docs": [{"id": doc_id, "rev": rev}, {"id": doc_id}]},
    ),
    "revs_diff": lambda w, s, doc_id, rev: ask(
        s, "POST", w.url("_revs_diff"), json={doc_id: [rev, "9-" + "f" * 32]}
    ),
    "changes_get": _read_changes("GET"),
    "changes_post_docs": _read_changes("POST", include_docs="true", style="all_docs"),
}


def check_visible(name: str, world: World, doc: dict, answer: Answer) -> None:
    """What a reader that may see `doc` gets: the county's own answer."""
    store, doc_id, rev = world.store, doc["_id"], doc["_rev"]
    has_photo = "photo.jpg" in doc.get("_attachments", {})
    if name.startswith("attachment"):
        if has_photo:
            assert (answer.status, answer.body) == (200, PHOTO)
        else:
            assert answer.status == 404 and answer.json()["error"] == "not_found"
        return
    assert answer.status == 200, answer
    body = answer.json()
    if name == "get":
        assert body == store.get(doc_id)
    elif name == "get_rev":
        assert body == store.get(doc_id, rev=rev)
    elif name == "get_revs":
        assert body == store.get(doc_id, revs=True)
    elif name == "get_conflicts":
        assert body == store.get(doc_id, conflicts=True, deleted_conflicts=True)
    elif name == "get_attachments":
        assert body["_rev"] == rev
        if has_photo:
            assert base64.b64decode(body["_attachments"]["photo.jpg"]["data"]) == PHOTO
    elif name.startswith("get_open_revs"):
        assert [r["ok"]["_rev"] for r in body] == [rev]
    elif name == "all_docs_keys":
        (row,) = body["rows"]
        assert row["value"]["rev"] == rev and row["doc"]["_rev"] == rev
    elif name == "bulk_get":
        assert [r["docs"][0]["ok"]["_rev"] for r in body["results"]] == [rev, rev]
    elif name == "revs_diff":
        assert body[doc_id]["missing"] == ["9-" + "f" * 32]
    elif name.startswith("changes"):
        (row,) = body["results"]
        assert row["id"] == doc_id and row["changes"][0]["rev"] == rev
        if "doc" in row:
            assert row["doc"]["_rev"] == rev


READ_TABLE = [
    pytest.param(reader, user, key, id=f"{reader}-{user}-{key}")
    for reader, user, key in itertools.product(READERS, USERS, SEEDS)
]


@pytest.mark.parametrize(("reader", "username", "key"), READ_TABLE)
def test_a_read_never_crosses_scope(world: World, reader: str, username: str, key: str) -> None:
    doc = world.docs[key]
    doc_type, place, _ = SEEDS[key]
    with world.session(username) as session:
        answer = READERS[reader](world, session, doc["_id"], doc["_rev"])
        if may_see(username, doc_type, place):
            check_visible(reader, world, doc, answer)
            return
        # Out of reach: exactly the answer about an id that never existed.
        missing = never_existing_id(doc["_id"])
        unknown = READERS[reader](world, session, missing, doc["_rev"])
    assert answer.masked(doc["_id"], missing) == unknown.masked(doc["_id"], missing)
    assert answer.status in (200, 404), answer
    assert not leaks(answer.masked(doc["_id"])[2], hidden_strings(world, username, doc))
    if reader.startswith("changes"):
        assert answer.json()["results"] == []


def test_revs_diff_answers_hidden_and_missing_documents_alike(world: World) -> None:
    """Several ids in one request: neither the order of the answer nor a malformed
    revision list tells a hidden document from a missing one."""
    hidden, fake = world.docs["household-b"], "3-" + "a" * 32
    with world.session("vol-a") as session:
        for revs in ([hidden["_rev"], fake], [fake], [], "1-x", [5], ["not a rev"]):
            missing = never_existing_id(hidden["_id"])
            first, second = never_existing_id(hidden["_id"]), never_existing_id(hidden["_id"])
            asked_hidden = ask(
                session, "POST", world.url("_revs_diff"),
                data=json.dumps({first: [fake], hidden["_id"]: revs, second: [fake]}),
            )  # fmt: skip
            asked_missing = ask(
                session, "POST", world.url("_revs_diff"),
                data=json.dumps({first: [fake], missing: revs, second: [fake]}),
            )  # fmt: skip
            assert asked_hidden.status < 500
            assert asked_hidden.masked(hidden["_id"], missing) == asked_missing.masked(
                hidden["_id"], missing
            ), revs


# -- reads of whole feeds -------------------------------------------------------------------------


def changes_ids(world: World, session: requests.Session, **params: str) -> tuple[list[dict], int]:
    answer = session.get(world.url("_changes"), params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["results"], body["last_seq"]


FEEDS = {
    "normal": {},
    "include_docs": {"include_docs": "true"},
    "all_docs": {"style": "all_docs", "include_docs": "true"},
    "longpoll": {"feed": "longpoll", "since": "0"},
}


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize("username", USERS)
def test_changes_hold_exactly_what_the_user_may_see(world: World, username: str, feed: str) -> None:
    with world.session(username) as session:
        results, last_seq = changes_ids(world, session, **FEEDS[feed])
    ids = [row["id"] for row in results]
    assert len(ids) == len(set(ids))
    assert set(ids) == world.visible_ids(username)
    assert last_seq == (results[-1]["seq"] if results else 0)
    for row in results:
        if "doc" in row:
            assert may_see(username, row["doc"].get("type", ""), row["doc"].get("place"))
            assert row["doc"]["_rev"] == row["changes"][0]["rev"]
        if feed == "all_docs":
            leaves = world.store.open_revs(row["id"], "all")
            assert {c["rev"] for c in row["changes"]} == {r["ok"]["_rev"] for r in leaves}


@pytest.mark.parametrize("username", USERS)
def test_changes_in_pages_add_up_to_the_whole_feed(world: World, username: str) -> None:
    seen: list[str] = []
    since = 0
    with world.session(username) as session:
        while True:
            results, since = changes_ids(world, session, since=str(since), limit="3")
            seen += [row["id"] for row in results]
            if not results:
                break
    assert sorted(seen) == sorted(world.visible_ids(username))


@pytest.mark.parametrize("username", USERS)
def test_all_docs_lists_exactly_what_the_user_may_see(world: World, username: str) -> None:
    with world.session(username) as session:
        listed = session.get(world.url("_all_docs"), params={"include_docs": "true"}, timeout=30)
        paged = session.get(world.url("_all_docs"), params={"limit": "2"}, timeout=30)
    rows = listed.json()["rows"]
    assert [row["id"] for row in rows] == sorted(world.visible_ids(username, live_only=True))
    assert all(may_see(username, row["doc"]["type"], row["doc"]["place"]) for row in rows)
    assert [row["id"] for row in paged.json()["rows"]] == [row["id"] for row in rows[:2]]


def test_the_update_seq_does_not_move_for_activity_outside_the_scope(world: World) -> None:
    """A write a user may not see changes neither `update_seq` nor the user's feed."""
    sessions = {username: world.session(username) for username in USERS}
    before = {u: s.get(world.url(""), timeout=30).json()["update_seq"] for u, s in sessions.items()}
    for username, session in sessions.items():  # update_seq is the feed's last seq
        results, _ = changes_ids(world, session)
        assert before[username] == (results[-1]["seq"] if results else 0)
    # A household in village B: out of scope for village A, its grid, township A and
    # (personal data) every admin; visible to village B and to county staff.
    written = world.stored("household", GRID_B1)
    world.store.bulk_docs([{**written, "size": 2}], new_edits=True)
    for username, session in sessions.items():
        after = session.get(world.url(""), timeout=30).json()["update_seq"]
        results, _ = changes_ids(world, session, since=str(before[username]))
        if may_see(username, "household", GRID_B1):
            assert after > before[username]
            assert [row["id"] for row in results] == [written["_id"]]
        else:
            assert after == before[username], username
            assert results == []


def test_a_longpoll_is_not_woken_by_activity_outside_the_scope(world: World) -> None:
    """Every user waits on a longpoll from their current update_seq; a home visit in village
    B arrives. Those who may see it get exactly it, the others time out with nothing."""
    answers: dict[str, tuple[list[dict], int]] = {}
    sessions = {username: world.session(username) for username in USERS}
    since = {u: s.get(world.url(""), timeout=30).json()["update_seq"] for u, s in sessions.items()}

    def wait(username: str) -> None:
        answers[username] = changes_ids(
            world, sessions[username], feed="longpoll", since=str(since[username]), timeout="3000"
        )

    threads = [threading.Thread(target=wait, args=(u,)) for u in USERS]
    for thread in threads:
        thread.start()
    visit = world.stored("home_visit", GRID_B1)
    for thread in threads:
        thread.join(timeout=30)
    for username in USERS:
        results, last_seq = answers[username]
        if may_see(username, "home_visit", GRID_B1):
            assert [row["id"] for row in results] == [visit["_id"]]
        else:
            assert (results, last_seq) == ([], since[username]), username


# -- _local checkpoints -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "other"),
    [("vol-a", other) for other in USERS if other != "vol-a"] + [("admin-county", "vol-a")],
)
def test_local_checkpoints_belong_to_their_user(world: World, owner: str, other: str) -> None:
    local_id = f"_local/checkpoint-{uuid.uuid4().hex[:8]}"
    never = f"_local/checkpoint-{uuid.uuid4().hex[:8]}"
    body = {"history": [{"last_seq": 42, "session_id": "s1"}], "note": "只给自己看"}
    with world.session(owner) as mine, world.session(other) as theirs:
        created = mine.put(world.url(local_id), json=body, timeout=30)
        assert created.status_code == 201, created.text
        rev = created.json()["rev"]
        # The other user reads, overwrites with the owner's revision, deletes: all as if
        # the checkpoint did not exist.
        for method, kwargs in [
            ("GET", {}),
            ("PUT", {"json": {**body, "_rev": rev, "note": "overwritten"}}),
            ("DELETE", {"params": {"rev": rev}}),
        ]:
            hidden = ask(theirs, method, world.url(local_id), **kwargs)
            missing = ask(theirs, method, world.url(never), **kwargs)
            assert hidden.masked(local_id, never) == missing.masked(local_id, never), method
            assert hidden.status in (404, 409)
            assert "只给自己看" not in hidden.body.decode()
        # Their own checkpoint of the same id is theirs alone.
        own = theirs.put(world.url(local_id), json={"note": "theirs"}, timeout=30)
        assert own.status_code == 201 and own.json()["rev"] == "0-1"
        assert theirs.get(world.url(local_id), timeout=30).json()["note"] == "theirs"
        kept = mine.get(world.url(local_id), timeout=30).json()
    assert kept == {"_id": local_id, "_rev": rev, **body}
    # Checkpoints never appear in the document feeds.
    with world.session(other) as theirs:
        results, _ = changes_ids(world, theirs)
        listed = theirs.get(world.url("_all_docs"), timeout=30).json()["rows"]
    assert not any(r["id"].startswith("_local") for r in results + listed)


# -- 401 for everybody not logged in ----------------------------------------------------------

ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "", None),
    ("PUT", "", None),
    ("GET", "_changes", None),
    ("GET", "_changes?include_docs=true&style=all_docs", None),
    ("GET", "_changes?feed=longpoll&since=now", None),
    ("POST", "_changes?filter=_doc_ids", {"doc_ids": ["x"]}),
    ("GET", "_all_docs", None),
    ("POST", "_all_docs", {"keys": ["x"]}),
    ("POST", "_bulk_get", {"docs": [{"id": "x"}]}),
    ("POST", "_revs_diff", {"x": ["1-a"]}),
    ("POST", "_bulk_docs", {"docs": [{"_id": "x"}]}),
    ("POST", "_bulk_docs", {"docs": [{"_id": "x", "_rev": "1-a"}], "new_edits": False}),
    ("GET", "{id}", None),
    ("GET", "{id}?open_revs=all&revs=true", None),
    ("GET", "{id}?rev={rev}&conflicts=true", None),
    ("PUT", "{id}", {"type": "patrol"}),
    ("DELETE", "{id}?rev={rev}", None),
    ("GET", "{id}/photo.jpg", None),
    ("PUT", "{id}/photo.jpg", None),
    ("GET", "_local/checkpoint", None),
    ("PUT", "_local/checkpoint", {"seq": 1}),
    ("DELETE", "_local/checkpoint?rev=0-1", None),
]

BAD_CALLERS: dict[str, dict[str, str]] = {
    "anonymous": {},
    "wrong password": {"Authorization": basic_auth("vol-a", PASSWORD + "x")},
    "unknown user": {"Authorization": basic_auth("nobody-here", PASSWORD)},
    "empty password": {"Authorization": basic_auth("vol-a", "")},
    "not basic": {"Authorization": "Bearer " + "a" * 20},
    "malformed basic": {"Authorization": "Basic !!!not-base64!!!"},
}


@pytest.mark.parametrize("caller", BAD_CALLERS)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_callers_who_are_not_logged_in_get_401_everywhere(
    world: World, caller: str, method: str, path: str, body: object
) -> None:
    doc = world.docs["water-b"]
    url = world.url(path.format(id=quote_id(doc["_id"]), rev=doc["_rev"]))
    answer = requests.request(method, url, headers=BAD_CALLERS[caller], json=body, timeout=30)
    assert answer.status_code == 401, (caller, answer.status_code, answer.text)
    assert answer.json()["error"] == "unauthorized"
    assert doc["_id"] not in answer.text and PHOTO not in answer.content


def test_a_deactivated_user_gets_401(world: World) -> None:

    username = world.county.add_user(f"gone-{uuid.uuid4().hex[:6]}", "volunteer", VILLAGE)
    with world.session(username) as session:
        assert session.get(world.url(""), timeout=30).status_code == 200
        with world.county.app.app_context():
            services().users.set_active(username, False)
        answer = session.get(world.url("_changes"), timeout=30)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"


# -- writes ---------------------------------------------------------------------------------------

# Each write test stores a fresh target of its own: key -> (type, place).
WRITE_TARGETS: dict[str, tuple[str, str]] = {
    "patrol-a1": ("patrol", GRID_A1),
    "patrol-a2": ("patrol", GRID_A2),
    "water-a": ("water_source", VILLAGE),
    "household-a": ("household", GRID_A1),
    "patrol-b": ("patrol", GRID_B1),
    "home_visit-b": ("home_visit", GRID_B1),
    "team-a": ("team", VILLAGE),
    "team-b": ("team", OTHER_VILLAGE),
}
WRITES = ("put", "delete", "bulk_docs", "replicate", "create")


def own_place(username: str, doc_type: str, place: str) -> str:
    """Where the user would move a document they may not see (a takeover attempt): a place
    of the right level inside their scope."""
    if may_see(username, doc_type, place):
        return place
    _, scope = USERS[username]
    candidates = [VILLAGE, OTHER_VILLAGE] if doc_type == "team" else [GRID_A1, GRID_B1]
    return next((c for c in candidates if c.startswith(scope)), place)


def child(doc: dict, body: dict) -> dict:
    """A replicated child revision of `doc` (new_edits=false) with `body`."""
    pos, parent = doc["_rev"].split("-")
    digest = uuid.uuid4().hex
    return {
        **body,
        "_rev": f"{int(pos) + 1}-{digest}",
        "_revisions": {"start": int(pos) + 1, "ids": [digest, parent]},
    }


def push(world: World, session: requests.Session, op: str, doc: dict) -> tuple[dict, str]:
    """Send `doc` with `op`; the per-document answer and the revision that was pushed."""
    url = world.url(quote_id(doc["_id"]))
    if op == "delete":
        answer = session.delete(url, params={"rev": doc["_rev"]}, timeout=30)
        return _single(answer), doc["_rev"]
    if op in ("put", "create"):
        return _single(session.put(url, json=doc, timeout=30)), doc.get("_rev", "")
    new_edits = op != "replicate"
    answer = session.post(
        world.url("_bulk_docs"), json={"docs": [doc], "new_edits": new_edits}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    rows = answer.json()
    if not new_edits and not rows:
        return {"ok": True, "id": doc["_id"], "rev": doc["_rev"]}, doc["_rev"]
    (row,) = rows
    return row, doc.get("_rev", "")


def _single(answer: requests.Response) -> dict:
    body = answer.json()
    if answer.status_code in (200, 201):
        assert body["ok"] is True
        return body
    assert answer.status_code == 403, (answer.status_code, body)
    assert set(body) == {"error", "reason"}
    return {"id": None, **body}


def attempt(world: World, username: str, op: str, target: str) -> tuple[dict, dict, dict, str]:
    """Store a fresh target and have `username` write it with `op`: the target as stored,
    the document pushed, the answer row and the pushed revision."""
    doc_type, place = WRITE_TARGETS[target]
    if op == "create":
        stored = pushed = world.new_doc(doc_type, place, author=username)
    else:
        stored = world.stored(doc_type, place, author=username)
        body = {**stored, "place": own_place(username, doc_type, place)}
        if doc_type == "team":
            body["name"] = body["name"] + "（改）"
        else:
            body["updated_at"] = stored["created_at"]
        pushed = child(stored, body) if op == "replicate" else body
        if op == "delete":
            pushed = {"_id": stored["_id"], "_rev": stored["_rev"], "_deleted": True}
    with world.session(username) as session:
        row, rev = push(world, session, op, pushed)
    return stored, pushed, row, rev


WRITE_TABLE = [
    pytest.param(op, user, target, id=f"{op}-{user}-{target}")
    for op, user, target in itertools.product(WRITES, USERS, WRITE_TARGETS)
]


@pytest.mark.parametrize(("op", "username", "target"), WRITE_TABLE)
def test_a_write_never_crosses_scope(world: World, op: str, username: str, target: str) -> None:
    doc_type, place = WRITE_TARGETS[target]
    stored, pushed, row, rev = attempt(world, username, op, target)
    doc_id = stored["_id"]
    if may_write(username, doc_type, place):
        assert "error" not in row, row
        if op == "delete":
            assert world.store.open_revs(doc_id, [row["rev"]])[0]["ok"]["_deleted"]
        else:
            assert world.store.get(doc_id)["_rev"] == row["rev"]
        assert (doc_id, rev, username) not in world.quarantined()
        return
    assert row["error"] == "forbidden", row
    # Nothing changed in the county store ...
    if op == "create":
        with pytest.raises(NotFound):
            world.store.get(doc_id)
    else:
        assert world.leaves(doc_id) == [stored]
    # ... the revision is kept in the quarantine, the author is told in their own place ...
    assert (doc_id, rev, username) in world.quarantined()
    with world.session(username) as session:
        notice = session.get(world.url(quote_id(notice_id(doc_id))), timeout=30)
    assert notice.status_code == 200, notice.text
    notice_doc = notice.json()
    assert notice_doc["about"] == doc_id and notice_doc["rev"] == rev
    assert " | ".join(notice_doc["reasons"]) == row["reason"]
    assert place_within(notice_doc["place"], USERS[username][1])
    # ... and the refusal says nothing about a place or data outside the scope that the
    # caller did not send.
    sent = json.dumps(pushed, ensure_ascii=False)
    secrets = {s for s in hidden_strings(world, username, stored) if s not in sent}
    assert not leaks(row["reason"], secrets)


@pytest.mark.parametrize("op", ["put", "bulk_docs", "replicate"])
@pytest.mark.parametrize("username", ["vol-grid", "vol-a", "lead-a", "staff-township", "vol-b"])
def test_a_write_to_a_hidden_document_is_answered_like_a_new_one(
    world: World, op: str, username: str
) -> None:
    """Pushing a body placed outside the scope gets the same refusal whether the id belongs
    to a document there or to none at all."""
    doc_type, place = "patrol", GRID_A2 if username == "vol-b" else GRID_B1
    assert not may_see(username, doc_type, place)
    stored = world.stored(doc_type, place, author=username)
    body = {**stored, "zone": "别人的责任区"}
    hidden = child(stored, body) if op == "replicate" else body
    missing_id = never_existing_id(stored["_id"])
    missing = {**hidden, "_id": missing_id}
    with world.session(username) as session:
        hidden_row, _ = push(world, session, op, hidden)
        missing_row, _ = push(world, session, op, missing)
    assert hidden_row["error"] == "forbidden"
    mask = lambda row: json.dumps(row).replace(stored["_id"], "<ID>").replace(missing_id, "<ID>")  # noqa: E731
    assert mask(hidden_row) == mask(missing_row)
    assert world.leaves(stored["_id"]) == [stored]


@pytest.mark.parametrize("field_name", ["review", "server_received_at"])
@pytest.mark.parametrize("username", ["vol-grid", "vol-a", "lead-a", "staff-township"])
@pytest.mark.parametrize("op", ["put", "replicate"])
def test_only_county_staff_change_server_owned_fields(
    world: World, username: str, field_name: str, op: str
) -> None:
    stored = world.stored("patrol", GRID_A1, author=username)
    value = (
        {"state": "approved", "by": "user:staff-township", "at": "2024-09-01T10:00:00+08:00"}
        if field_name == "review"
        else "2024-09-01T10:00:00+08:00"
    )
    body = {**stored, field_name: value}
    pushed = child(stored, body) if op == "replicate" else body
    with world.session(username) as session:
        row, rev = push(world, session, op, pushed)
    if USERS[username][0] == "county_staff":
        assert "error" not in row, row
        assert world.store.get(stored["_id"])[field_name] == value
    else:
        assert row["error"] == "forbidden" and field_name in row["reason"]
        assert world.leaves(stored["_id"]) == [stored]
        assert (stored["_id"], rev, username) in world.quarantined()


@pytest.mark.parametrize("username", USERS)
def test_nobody_writes_rejection_notices(world: World, username: str) -> None:
    _, scope = USERS[username]
    about = world.stored("patrol", GRID_A1)["_id"]
    notice = {
        "_id": notice_id(about),
        "type": "rejection_notice",
        "schema_version": 1,
        "place": scope,
        "author": f"user:{username}",
        "device": "forged",
        "created_at": "2024-09-01T10:00:00+08:00",
        "updated_at": "2024-09-01T10:00:00+08:00",
        "about": about,
        "rev": "1-" + "0" * 32,
        "reasons": ["all is well"],
        "rejected_at": "2024-09-01T10:00:00+08:00",
        "pushed_by": username,
    }
    with world.session(username) as session:
        row, _ = push(world, session, "bulk_docs", notice)
        # The refusal is answered by the server's own notice about the forged one.
        answer = session.get(world.url(quote_id(notice_id(notice["_id"]))), timeout=30)
    assert row["error"] == "forbidden" and "rejection_notice" in row["reason"]
    with pytest.raises(NotFound):
        world.store.get(notice["_id"])
    assert answer.status_code == 200 and answer.json()["device"] == "county-server"


def test_a_push_never_moves_or_settles_another_scopes_notice(world: World) -> None:
    """Notices are named after the refused id, so two villages pushing the same id share a
    notice id: neither a refusal nor an acceptance in village A may overwrite, move or
    delete the notice village B was given."""
    doc = world.new_doc("patrol", GRID_B1, author="vol-b")
    nid = notice_id(doc["_id"])
    with world.session("vol-b") as session:
        row, _ = push(world, session, "bulk_docs", {**doc, "started_at": "2024-08-25 09:30"})
    assert row["error"] == "forbidden"
    theirs = world.store.get(nid)
    assert theirs["place"] == GRID_B1 and theirs["pushed_by"] == "vol-b"
    ours = {**world.new_doc("patrol", GRID_A1, author="vol-a"), "_id": doc["_id"]}
    with world.session("vol-a") as session:
        refused, _ = push(world, session, "bulk_docs", {**ours, "ended_at": "yesterday"})
        assert refused["error"] == "forbidden"
        assert world.store.get(nid) == theirs  # not overwritten, not moved into village A
        answer = ask(session, "GET", world.url(quote_id(nid)))
        assert answer.status == 404  # and still out of village A's sight
        accepted, _ = push(world, session, "bulk_docs", ours)
    assert accepted.get("ok"), accepted
    assert world.store.get(nid) == theirs  # village A's success settles nothing of B's


# -- a hub's endpoints: the station's accounts and the station page -------------------------------


def station_people(world: World, lead_scope: str) -> list[str]:
    """What a lead's hub should receive: the volunteers' and leads' accounts of the
    station, computed from the county's accounts themselves."""
    with world.county.app.app_context():
        accounts = services().users.list_users()
    return sorted(
        f"account:{a.username}"
        for a in accounts
        if a.role in ("volunteer", "station_lead") and place_within(a.scope, lead_scope)
    )


@pytest.mark.parametrize("username", USERS)
def test_only_a_leads_hub_reads_accounts_and_only_its_stations(world: World, username: str) -> None:
    role, scope = USERS[username]
    base = world.county.url
    with world.session(username) as session:
        listed = session.get(f"{base}/accounts/_all_docs?include_docs=true", timeout=30)
        info = session.get(f"{base}/accounts/", timeout=30)
        page = session.get(f"{base}/station/summary.json", timeout=30)
        for name in USERS:  # no /db/ endpoint serves an account, to anybody
            assert session.get(world.url(f"account:{name}"), timeout=30).status_code == 404
    if role == "station_lead":
        assert listed.status_code == 200 and info.status_code == 200
        assert [row["id"] for row in listed.json()["rows"]] == station_people(world, scope)
        assert page.status_code == 200 and page.json()["scope"] == scope
    else:
        assert (listed.status_code, info.status_code, page.status_code) == (403, 403, 403)
        assert "password_hash" not in listed.text


@pytest.mark.parametrize("caller", BAD_CALLERS)
def test_callers_not_logged_in_reach_no_hub_endpoint(world: World, caller: str) -> None:
    base = world.county.url
    for path in ("/accounts/", "/accounts/_all_docs", "/station/summary.json"):
        answer = requests.get(base + path, headers=BAD_CALLERS[caller], timeout=30)
        assert answer.status_code == 401, (caller, path, answer.text)
