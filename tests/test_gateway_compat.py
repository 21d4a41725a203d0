"""`/db` answers as CouchDB 3 does, for the endpoints standard clients call.

Each test names the failure it pins: `GET /db` was a 308 with HTML, `GET /` and
`/_all_dbs` 404, `_all_docs` stopped at 1,000 rows, ignored `keys=` on GET and had
`total_rows` null, `_changes` stopped at 1,000 rows without a limit and was written on
one line, `_find` and `_ensure_full_commit` were 405, `feed=continuous` got an ordinary
JSON answer. One county per backend serves the module; it holds more than 1,000
documents in the volunteer's village, so paging shows.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from support.county import OTHER_VILLAGE, VILLAGE, County, county_store
from support.standard_clients import authored, ids_in_scope, module_county

from server.demo_county import DemoCounty
from sync.documents import attachment_digest

VOLUNTEER, ADMIN, OUTSIDER = "xiaowang", "it-admin", "shemihu"
MANY = 1_150  # patrols in the village: more than a page of 1,000


@dataclass
class World:
    county: County

    @property
    def village_ids(self) -> set[str]:
        """What the volunteer may read now (tests add documents as they go)."""
        return ids_in_scope(self.county, VILLAGE)

    @property
    def admin_ids(self) -> set[str]:
        """What the county's IT admin may read now (no personal data)."""
        return ids_in_scope(self.county, "422827", personal=False)

    def url(self, path: str) -> str:
        return f"{self.county.url}/db{path}"

    def session(self, username: str = VOLUNTEER) -> requests.Session:
        return self.county.session(username)


@pytest.fixture(scope="module", params=["embedded", "couchdb"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with module_county(request, tmp_path_factory.mktemp("county"), LONGPOLL_SECONDS=3) as county:
        county.add_user(VOLUNTEER, "volunteer", VILLAGE)
        county.add_user(ADMIN, "admin", "422827")
        county.add_user(OUTSIDER, "volunteer", OTHER_VILLAGE)
        demo = DemoCounty(seed=11)
        village = next(v for v in demo.villages if v.code == VILLAGE)
        elsewhere = next(v for v in demo.villages if v.code == OTHER_VILLAGE)
        docs = [demo.patrol(village) for _ in range(MANY)]
        household = demo.household(village)
        docs += [household, demo.home_visit(village, household["_id"])]
        docs += [demo.patrol(elsewhere) for _ in range(5)]
        store = county_store(county)
        for start in range(0, len(docs), 500):
            assert all(row.get("ok") for row in store.bulk_docs(docs[start : start + 500]))
        yield World(county)


def _json_error(answer: requests.Response, status: int) -> dict:
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert isinstance(body.get("error"), str) and isinstance(body.get("reason"), str), body
    return body


# -- the server and the database ----------------------------------------------------------


def test_get_db_without_a_slash_is_its_info_not_a_redirect(world: World) -> None:
    with world.session() as session:
        for url in (world.url(""), world.url("/")):
            answer = session.get(url, allow_redirects=False, timeout=30)
            assert answer.status_code == 200, answer.text[:200]
            info = answer.json()
            assert info["db_name"] == "db" and info["instance_start_time"]
            assert info["doc_count"] == len(world.village_ids)
        head = session.head(world.url(""), allow_redirects=False, timeout=30)
        assert head.status_code == 200 and head.headers["Content-Type"] == "application/json"
    with world.session(ADMIN) as session:
        assert session.get(world.url(""), timeout=30).json()["doc_count"] == len(world.admin_ids)


def test_the_root_welcomes_as_couchdb_does_and_lists_the_one_database(world: World) -> None:
    welcome = requests.get(world.county.url + "/", timeout=30)
    assert welcome.status_code == 200
    body = welcome.json()
    assert body["couchdb"] == "Welcome" and body["version"].startswith("3.")
    assert body["vendor"]["name"] == "fieldsync"
    with world.session() as session:
        assert session.get(world.county.url + "/_all_dbs", timeout=30).json() == ["db"]
    _json_error(requests.get(world.county.url + "/_all_dbs", timeout=30), 401)


def test_ensure_full_commit_answers_as_couchdb_does(world: World) -> None:
    with world.session() as session:
        answer = session.post(world.url("/_ensure_full_commit"), json={}, timeout=30)
        info = session.get(world.url(""), timeout=30).json()
    assert answer.status_code == 201
    assert answer.json() == {"ok": True, "instance_start_time": info["instance_start_time"]}


# -- _changes -------------------------------------------------------------------------------


def test_changes_without_a_limit_returns_everything_in_scope(world: World) -> None:
    with world.session() as session:
        answer = session.get(world.url("/_changes"), params={"style": "all_docs"}, timeout=60)
    ids = [row["id"] for row in answer.json()["results"]]
    assert len(ids) == len(set(ids)) == len(world.village_ids) > 1000
    assert set(ids) == world.village_ids
    assert answer.json()["pending"] == 0


def test_changes_in_pages_end_with_pending_zero(world: World) -> None:
    seen: list[str] = []
    since = 0
    with world.session() as session:
        while True:
            page = session.get(world.url("/_changes"), params={"since": since, "limit": 400})
            body = page.json()
            seen += [row["id"] for row in body["results"]]
            since = body["last_seq"]
            if body["pending"] == 0:
                break
            assert len(body["results"]) == 400
    assert set(seen) == world.village_ids


def test_changes_is_written_one_row_a_line_as_couchdb_writes_it(world: World) -> None:
    with world.session() as session:
        text = session.get(world.url("/_changes"), params={"limit": 3}, timeout=30).text
    lines = text.splitlines()
    assert lines[0] == '{"results":['
    assert [json.loads(line.rstrip(","))["seq"] for line in lines[1:4]]
    assert lines[4] == "],"
    assert json.loads("{" + lines[5])["pending"] == len(world.village_ids) - 3


def test_continuous_changes_are_one_row_a_line_then_last_seq(world: World) -> None:
    with world.session() as session:
        started = time.monotonic()
        answer = session.get(
            world.url("/_changes"), params={"feed": "continuous", "timeout": 300}, timeout=30
        )
        elapsed = time.monotonic() - started
    lines = [json.loads(line) for line in answer.text.splitlines() if line]
    *rows, last = lines
    assert {row["id"] for row in rows} == world.village_ids
    assert last == {"last_seq": rows[-1]["seq"], "pending": 0}
    assert 0.25 < elapsed < 10  # waited its timeout for more, then ended


def test_continuous_changes_stream_a_change_made_while_waiting(world: World) -> None:
    with world.session() as session:
        now = session.get(world.url(""), timeout=30).json()["update_seq"]
        params = {"feed": "continuous", "since": now, "timeout": 5000, "heartbeat": 200}
        answer = session.get(world.url("/_changes"), params=params, stream=True, timeout=30)
        lines = answer.iter_lines()
        assert next(lines) == b""  # a heartbeat while nothing happens
        demo = DemoCounty(seed=12)
        patrol = authored(demo.patrol(_village(demo)), VOLUNTEER)
        assert county_store(world.county).bulk_docs([patrol])[0]["ok"]
        row = next(line for line in lines if line)
        answer.close()
    assert json.loads(row)["id"] == patrol["_id"]


def _village(demo: DemoCounty):  # noqa: ANN202 - the demo's Village
    return next(v for v in demo.villages if v.code == VILLAGE)


def test_longpoll_with_heartbeat_sends_newlines_then_the_feed(world: World) -> None:
    with world.session() as session:
        answer = session.get(
            world.url("/_changes"),
            params={"feed": "longpoll", "since": "now", "heartbeat": 300, "timeout": 1000},
            timeout=30,
        )
    text = answer.text
    assert text.startswith("\n")  # heartbeats while waiting (the server's bound ends it)
    body = json.loads(text)
    assert body["results"] == [] and body["last_seq"] >= 1


def test_eventsource_writes_server_sent_events(world: World) -> None:
    with world.session() as session:
        answer = session.get(
            world.url("/_changes"), params={"feed": "eventsource", "limit": 2}, timeout=30
        )
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    events = [block for block in answer.text.split("\n\n") if block]
    assert len(events) == 2
    data, ident = events[0].split("\n")
    assert data.startswith("data: ") and ident == f"id: {json.loads(data[6:])['seq']}"


def test_an_eventsource_resumes_from_last_event_id(world: World) -> None:
    with world.session() as session:
        first = session.get(world.url("/_changes"), params={"limit": 2}, timeout=30).json()
        resumed = session.get(
            world.url("/_changes"),
            params={"feed": "eventsource", "limit": 1},
            headers={"Last-Event-ID": str(first["results"][0]["seq"])},
            timeout=30,
        )
        _json_error(
            session.get(
                world.url("/_changes"),
                params={"feed": "eventsource"},
                headers={"Last-Event-ID": "x"},
                timeout=30,
            ),
            400,
        )
    assert resumed.text.startswith("data: ")
    assert json.loads(resumed.text.split("\n")[0][6:])["id"] == first["results"][1]["id"]


def test_bulk_get_latest_gives_the_leaf_an_old_revision_became(world: World) -> None:
    store = county_store(world.county)
    patrol = authored(DemoCounty(seed=13).patrol(_village(DemoCounty(seed=13))), VOLUNTEER)
    (first,) = store.bulk_docs([patrol])
    (second,) = store.bulk_docs([{**patrol, "_rev": first["rev"], "zone": "白岩村责任区3"}])
    asked = {"docs": [{"id": patrol["_id"], "rev": first["rev"]}]}
    with world.session() as session:
        latest = session.post(world.url("/_bulk_get"), params={"latest": "true"}, json=asked)
    (result,) = latest.json()["results"]
    assert result["docs"][0]["ok"]["_rev"] == second["rev"]


def test_descending_changes_list_the_newest_first(world: World) -> None:
    with world.session() as session:
        ascending = session.get(world.url("/_changes"), timeout=60).json()["results"]
        newest = session.get(
            world.url("/_changes"), params={"descending": "true", "limit": 5}, timeout=30
        ).json()
    assert [r["seq"] for r in newest["results"]] == [r["seq"] for r in ascending[::-1][:5]]


def test_a_selector_filter_gives_matching_rows_and_passes_the_rest(world: World) -> None:
    with world.session() as session:
        answer = session.post(
            world.url("/_changes"),
            params={"filter": "_selector", "include_docs": "true"},
            json={"selector": {"type": "household"}},
            timeout=60,
        )
        everything = session.get(world.url("/_changes"), timeout=60).json()
    body = answer.json()
    assert [row["doc"]["type"] for row in body["results"]] == ["household"]
    assert body["last_seq"] == everything["last_seq"]  # past every row it read


@pytest.mark.parametrize(
    "params",
    [
        {"feed": "bogus"},
        {"feed": "continuous", "descending": "true"},
        {"style": "winners"},
        {"heartbeat": "often"},
        {"heartbeat": "-5"},
        {"timeout": "soon"},
        {"since": "yesterday"},
        {"since": '"1'},
        {"limit": "-1"},
        {"filter": "_view"},
        {"filter": "_doc_ids", "doc_ids": '"x"'},
    ],
)
def test_a_feed_it_cannot_give_is_a_400_never_something_else(
    world: World, params: dict[str, str]
) -> None:
    with world.session() as session:
        _json_error(session.get(world.url("/_changes"), params=params, timeout=30), 400)


# -- _all_docs ------------------------------------------------------------------------------


def test_all_docs_lists_everything_in_scope_with_total_rows(world: World) -> None:
    with world.session() as session:
        body = session.get(world.url("/_all_docs"), timeout=60).json()
    ids = [row["id"] for row in body["rows"]]
    assert ids == sorted(world.village_ids)
    assert body["total_rows"] == len(world.village_ids) and body["offset"] == 0


def test_all_docs_takes_keys_on_get_and_post(world: World) -> None:
    mine = sorted(world.village_ids)[:2]
    hidden = next(i for i in ids_in_scope(world.county, OTHER_VILLAGE))
    keys = [mine[1], hidden, "patrol:nowhere", mine[0]]
    with world.session() as session:
        got = session.get(world.url("/_all_docs"), params={"keys": json.dumps(keys)}).json()
        posted = session.post(world.url("/_all_docs"), json={"keys": keys}).json()
    assert got["rows"] == posted["rows"]
    assert [row.get("id") for row in got["rows"]] == [mine[1], None, None, mine[0]]
    assert got["rows"][1] == {"key": hidden, "error": "not_found"}


def test_all_docs_ranges_skip_descending_and_include_docs(world: World) -> None:
    ids = sorted(world.village_ids)
    with world.session() as session:

        def listed(**params: object) -> list[str]:
            params = {k: json.dumps(v) if k.endswith("key") else v for k, v in params.items()}
            answer = session.get(world.url("/_all_docs"), params=params, timeout=60)
            assert answer.status_code == 200, answer.text[:200]
            return [row["id"] for row in answer.json()["rows"]]

        assert listed(startkey=ids[10], endkey=ids[20]) == ids[10:21]
        assert listed(start_key=ids[10], end_key=ids[20], inclusive_end="false") == ids[10:20]
        assert listed(startkey=ids[20], endkey=ids[10], descending="true") == ids[10:21][::-1]
        assert listed(skip=5, limit=3) == ids[5:8]
        assert listed(key=ids[7]) == [ids[7]]
        assert listed(limit=0) == []
        docs = session.get(
            world.url("/_all_docs"), params={"include_docs": "true", "limit": 3, "skip": 1200}
        ).json()
    assert [row["doc"]["_id"] for row in docs["rows"]] == ids[1200:1203]
    assert docs["offset"] == 1200


@pytest.mark.parametrize(
    "params",
    [
        {"keys": '"one"'},
        {"keys": "[not json"},
        {"startkey": "12"},
        {"endkey": "[1]"},
        {"inclusive_end": "maybe"},
        {"limit": "lots"},
        {"skip": "-2"},
    ],
)
def test_bad_all_docs_arguments_are_a_400(world: World, params: dict[str, str]) -> None:
    with world.session() as session:
        _json_error(session.get(world.url("/_all_docs"), params=params, timeout=30), 400)


# -- _find ----------------------------------------------------------------------------------


def test_find_reads_only_what_the_caller_may_read(world: World) -> None:
    selector = {"selector": {"type": {"$in": ["patrol", "home_visit", "household"]}}}
    with world.session() as session:
        mine = session.post(world.url("/_find"), json={**selector, "limit": 5000}).json()
    with world.session(ADMIN) as session:
        admins = session.post(world.url("/_find"), json={**selector, "limit": 5000}).json()
    with world.session(OUTSIDER) as session:
        theirs = session.post(world.url("/_find"), json={**selector, "limit": 5000}).json()
    mine_ids = {doc["_id"] for doc in mine["docs"]}
    records = {"patrol", "home_visit", "household"}
    assert mine_ids == {i for i in world.village_ids if i.partition(":")[0] in records}
    assert len(mine_ids) > MANY
    assert {doc["type"] for doc in admins["docs"]} == {"patrol"}  # never personal data
    assert {doc["_id"] for doc in admins["docs"]} <= world.admin_ids
    assert all(doc["place"].startswith(OTHER_VILLAGE) for doc in theirs["docs"])
    assert len(theirs["docs"]) == 5


def test_find_fields_sort_limit_skip_and_bookmark(world: World) -> None:
    patrols = {"type": "patrol", "place": {"$regex": f"^{VILLAGE}"}}
    with world.session() as session:

        def find(**query: object) -> dict:
            answer = session.post(world.url("/_find"), json={"selector": patrols, **query})
            assert answer.status_code == 200, answer.text[:300]
            return answer.json()

        first = find(fields=["_id", "started_at"], sort=[{"started_at": "asc"}], limit=10)
        assert all(set(doc) == {"_id", "started_at"} for doc in first["docs"])
        times = [doc["started_at"] for doc in first["docs"]]
        assert times == sorted(times) and len(times) == 10
        after = find(
            fields=["started_at"], sort=["started_at"], limit=10, bookmark=first["bookmark"]
        )
        assert after["docs"][0]["started_at"] >= times[-1]
        skipped = find(fields=["started_at"], sort=["started_at"], skip=10, limit=10)
        assert skipped["docs"] == after["docs"]
        newest = find(fields=["started_at"], sort=[{"started_at": "desc"}], limit=1)
        assert newest["docs"][0]["started_at"] >= after["docs"][-1]["started_at"]
        page_one = find(fields=["_id"], limit=7)
        page_two = find(fields=["_id"], limit=7, bookmark=page_one["bookmark"])
        ids = [d["_id"] for d in page_one["docs"] + page_two["docs"]]
        assert ids == sorted(ids) and len(set(ids)) == 14
        assert len(find()["docs"]) == 25  # CouchDB's default limit


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"selector": []},
        {"selector": {"type": {"$near": 1}}},
        {"selector": {}, "sort": [{"a": "up"}]},
        {"selector": {}, "sort": ["a", {"b": "desc"}]},
        {"selector": {}, "limit": -1},
        {"selector": {}, "limit": "5"},
        {"selector": {}, "fields": "type"},
        {"selector": {}, "bookmark": "not-a-bookmark!"},
        {"selector": {}, "bookmark": base64.urlsafe_b64encode(b'{"offset": -1}').decode()},
        {"selector": {}, "select": {}},
    ],
)
def test_bad_find_queries_are_a_400(world: World, body: object) -> None:
    with world.session() as session:
        _json_error(session.post(world.url("/_find"), json=body, timeout=30), 400)


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/db/{id}", {"open_revs": "[not json"}, None),
        ("GET", "/db/{id}", {"open_revs": "[1, 2]"}, None),
        ("GET", "/db/{id}", {"open_revs": '"1-a"'}, None),
        ("GET", "/db/{id}", {"open_revs": "all", "atts_since": "{}"}, None),
        ("POST", "/db", None, [1, 2]),
        ("POST", "/db", None, {"_id": 7}),
        ("PUT", "/db/_revs_limit", None, 5),
        ("POST", "/db/_index", None, {"index": {"fields": ["type"]}}),
        ("GET", "/_all_dbs", {"limit": "many"}, None),
        ("GET", "/_uuids", {"count": "0"}, None),
    ],
)
def test_bad_input_on_the_other_new_paths_is_a_4xx(
    world: World, method: str, path: str, params: dict | None, body: object
) -> None:
    doc_id = sorted(world.village_ids)[0]
    before = county_store(world.county).info()["update_seq"]
    with world.session() as session:
        answer = session.request(
            method,
            world.county.url + path.format(id=doc_id),
            params=params,
            json=body,
            timeout=30,
        )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
    assert set(answer.json()) == {"error", "reason"}
    assert county_store(world.county).info()["update_seq"] == before


def test_find_needs_a_login(world: World) -> None:
    _json_error(requests.post(world.url("/_find"), json={"selector": {}}, timeout=30), 401)


# -- multipart, as CouchDB's replicator writes and reads documents with attachments ---------


PHOTO = b"\xff\xd8\xff\xe0 the spring above the school " + bytes(range(256)) * 4


def _water_source(seed: int) -> dict:
    demo = DemoCounty(seed=seed)
    return authored(demo.water_source(_village(demo)), VOLUNTEER)


def _related(doc: dict, attachments: dict[str, tuple[str, bytes, bool]]) -> tuple[bytes, str]:
    """A multipart/related body as couch_doc:doc_to_multi_part_stream writes it."""
    boundary = "a8f1c2e9d0b14e5f"
    stubs = {}
    for name, (content_type, data, gzipped) in attachments.items():
        sent = gzip.compress(data) if gzipped else data
        stubs[name] = {
            "content_type": content_type,
            "revpos": 1,
            "digest": attachment_digest(data),
            "length": len(data),
            "follows": True,
            **({"encoding": "gzip", "encoded_length": len(sent)} if gzipped else {}),
        }
    parts = [
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
        + json.dumps({**doc, "_attachments": stubs}).encode()
    ]
    for name, (content_type, data, gzipped) in attachments.items():
        sent = gzip.compress(data) if gzipped else data
        head = (
            f'Content-Disposition: attachment; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\nContent-Length: {len(sent)}\r\n"
        )
        if gzipped:
            head += "Content-Encoding: gzip\r\n"
        parts.append(f"\r\n--{boundary}\r\n{head}\r\n".encode() + sent)
    return b"".join(
        parts
    ) + f"\r\n--{boundary}--".encode(), f'multipart/related; boundary="{boundary}"'


def test_a_replicated_document_with_attachments_is_written_from_multipart(world: World) -> None:
    doc = {**_water_source(21), "_rev": "1-" + "a" * 32}
    doc["_revisions"] = {"start": 1, "ids": ["a" * 32]}
    note = "泉水清澈，四季不断。".encode() * 40
    body, content_type = _related(
        doc, {"photo.jpg": ("image/jpeg", PHOTO, False), "note.txt": ("text/plain", note, True)}
    )
    with world.session() as session:
        answer = session.put(
            world.url(f"/{doc['_id']}"),
            params={"new_edits": "false"},
            data=body,
            headers={"Content-Type": content_type},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json() == {"ok": True, "id": doc["_id"], "rev": doc["_rev"]}
        photo = session.get(world.url(f"/{doc['_id']}/photo.jpg"), timeout=30)
        text = session.get(world.url(f"/{doc['_id']}/note.txt"), timeout=30)
    assert photo.content == PHOTO and text.content == note


def test_open_revs_answer_multipart_mixed_with_attachments_inline(world: World) -> None:
    doc = {**_water_source(22), "_rev": "1-" + "b" * 32}
    doc["_revisions"] = {"start": 1, "ids": ["b" * 32]}
    body, content_type = _related(doc, {"photo.jpg": ("image/jpeg", PHOTO, False)})
    missing = "1-" + "c" * 32
    with world.session() as session:
        written = session.put(
            world.url(f"/{doc['_id']}?new_edits=false"),
            data=body,
            headers={"Content-Type": content_type},
        )
        assert written.status_code == 201, written.text
        answer = session.get(
            world.url(f"/{doc['_id']}"),
            params={
                "revs": "true",
                "latest": "true",
                "open_revs": json.dumps([doc["_rev"], missing]),
            },
            headers={"Accept": "multipart/mixed"},
            timeout=30,
        )
    assert answer.headers["Content-Type"].startswith("multipart/mixed")
    boundary = answer.headers["Content-Type"].split('boundary="')[1].rstrip('"')
    parts = [p for p in answer.content.split(b"--" + boundary.encode()) if p not in (b"", b"--")]
    assert len(parts) == 2
    split = dict(part.strip(b"\r\n").partition(b"\r\n\r\n")[::2] for part in parts)
    found = json.loads(split[b"Content-Type: application/json"])
    assert found["_rev"] == doc["_rev"] and found["_revisions"] == doc["_revisions"]
    assert base64.b64decode(found["_attachments"]["photo.jpg"]["data"]) == PHOTO
    error_part = split[b'Content-Type: application/json; error="true"']
    assert json.loads(error_part) == {"missing": missing}


def _bad_related() -> dict[str, tuple[str, bytes, str]]:
    """Bad multipart/related writes by name: (document id, body, Content-Type)."""
    doc = {**_water_source(23), "_rev": "1-" + "d" * 32}
    doc["_revisions"] = {"start": 1, "ids": ["d" * 32]}
    good, content_type = _related(doc, {"photo.jpg": ("image/jpeg", PHOTO, False)})
    bomb, _ = _related(doc, {"big.txt": ("text/plain", b"0" * (17 << 20), True)})
    zipped, _ = _related(doc, {"photo.jpg": ("image/jpeg", PHOTO, True)})
    corrupt = zipped.replace(gzip.compress(PHOTO)[10:30], b"\0" * 20)
    wrong = good.replace(attachment_digest(PHOTO).encode(), attachment_digest(b"x").encode())
    data_part = good.index(b"\r\n--a8f1c2e9d0b14e5f\r\nContent-Disposition")
    cases = {
        "no boundary": (good, "multipart/related"),
        "cut short": (good[:-40], content_type),
        "no parts": (b"--a8f1c2e9d0b14e5f--", content_type),
        "json is not an object": (good.replace(b'{"_id"', b'[{"_id"', 1), content_type),
        "fewer parts than follow": (good[:data_part] + b"\r\n--a8f1c2e9d0b14e5f--", content_type),
        "corrupt gzip": (corrupt, content_type),
        "gzip bomb": (bomb, content_type),
        "digest does not match": (wrong, content_type),
        "bad header line": (good.replace(b"Content-Type: image/jpeg", b"no colon"), content_type),
        "gzipped as a whole": (good, content_type + "; gzip"),
    }
    return {name: (doc["_id"], body, ctype) for name, (body, ctype) in cases.items()}


BAD_RELATED = list(_bad_related())


@pytest.mark.parametrize("name", BAD_RELATED)
def test_bad_multipart_writes_are_a_4xx_and_change_nothing(world: World, name: str) -> None:
    doc_id, body, content_type = _bad_related()[name]
    headers = {"Content-Type": content_type.removesuffix("; gzip")}
    if content_type.endswith("; gzip"):
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body)
    store = county_store(world.county)
    before = store.info()["update_seq"]
    with world.session() as session:
        answer = session.put(
            world.url(f"/{doc_id}?new_edits=false"), data=body, headers=headers, timeout=60
        )
    assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text[:300])
    assert set(answer.json()) == {"error", "reason"}, name
    assert store.open_revs(doc_id, "all") == [], name  # nothing half-written
    if name != "digest does not match":  # refused by the store: kept, with a notice
        assert store.info()["update_seq"] == before, name
