"""Bad input at `/db/`: generated (hypothesis) and hand-written.

Malformed JSON, invalid UTF-8, wrong content types, corrupt gzip and gzip bombs, bodies
over the limit, deep nesting, thousands of revisions, hostile ids (also percent-encoded
in URLs), mislabelled attachments, forged histories and replayed pushes. Every one gets a
clear 4xx JSON error (`{"error", "reason"}`) or is handled idempotently, never a 5xx;
nothing is half-written (the county store is unchanged by refused input); and the
quarantine holds every refused revision, once.

One county per backend serves the whole module (hypothesis runs many examples against
it), with a small request limit so that a 1 MB bomb is over it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import support.county as gateway_fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.county import OTHER_VILLAGE, PASSWORD, VILLAGE, County

from schemas.rejection_notice import notice_id
from server.demo_county import DemoCounty, recorded_by
from server.services import services
from sync.errors import NotFound
from sync.http_client import basic_auth, quote_id
from sync.store import Store

LIMIT = 256 * 1024  # MAX_CONTENT_LENGTH of this module's county
GRID = VILLAGE + "001"
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BODY_ENDPOINTS = [
    ("POST", "_bulk_docs"),
    ("POST", "_bulk_get"),
    ("POST", "_revs_diff"),
    ("POST", "_all_docs"),
    ("POST", "_changes?filter=_doc_ids"),
    ("PUT", "patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D"),
    ("PUT", "_local/checkpoint"),
]


class KeptSession(requests.Session):
    """A session that `with` does not close: the module's county closes it at the end."""

    def __exit__(self, *exc_info: object) -> None:
        pass


@dataclass
class Gateway:
    county: County
    store: Store
    demo: DemoCounty
    session: requests.Session  # a village volunteer's

    def url(self, path: str) -> str:
        return f"{self.county.url}/db/{path}"

    def patrol(self, place: str = GRID) -> dict:
        """A valid patrol at `place`, recorded by the village volunteer alone."""
        village = next(v for v in self.demo.villages if v.code == place[:12])
        (patrol,) = recorded_by([self.demo.patrol(village)], "wangfang")
        return {**patrol, "place": place}

    def quarantine(self) -> list[tuple[str, str]]:
        """(id, `_rev` as pushed) of every quarantined revision. For an edit the `_rev`
        pushed is the parent; the row's own key is the revision it would have become."""
        with self.county.app.app_context(), services().db.read() as conn:
            rows = conn.execute("SELECT doc_id, body FROM quarantine ORDER BY id").fetchall()
        return [(doc_id, str(json.loads(body).get("_rev", ""))) for doc_id, body in rows]

    def state(self) -> tuple[object, int]:
        """What refused input must leave as it was: the store's seq and the quarantine."""
        return self.store.info()["update_seq"], len(self.quarantine())


@contextmanager
def live_county(data_dir: Path, couch_url: str | None) -> Iterator[County]:
    """A county for a whole module, with a small request limit so a gzip bomb is over it."""
    with gateway_fixtures.live_county(
        data_dir, couch_url, LONGPOLL_SECONDS=1, MAX_CONTENT_LENGTH=LIMIT
    ) as county:
        yield county


@pytest.fixture(scope="module", params=["embedded", "couchdb"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    couch_url = request.getfixturevalue("couch_url") if request.param == "couchdb" else None
    with live_county(tmp_path_factory.mktemp("county"), couch_url) as county:
        county.add_user("wangfang", "volunteer", VILLAGE)
        session = KeptSession()
        session.headers["Authorization"] = basic_auth("wangfang", PASSWORD)
        session.headers["X-Fieldsync-Device"] = "tablet-wangfang"
        store = county.app.extensions["fieldsync"].store
        gw = Gateway(county, store, DemoCounty(7), session)
        seeded = [gw.patrol() for _ in range(3)] + [gw.patrol(OTHER_VILLAGE + "001")]
        assert all(row.get("ok") for row in gw.store.bulk_docs(seeded))
        yield gw
        session.close()


def send(
    gw: Gateway, method: str, path: str, data: bytes | None = None, **headers: str
) -> requests.Response:
    headers.setdefault("Content-Type", "application/json")
    return gw.session.request(method, gw.url(path), data=data, headers=headers, timeout=60)


def assert_client_error(answer: requests.Response, status: int | None = None) -> dict:
    """A 4xx answered in CouchDB's JSON error form."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    if status is not None:
        assert answer.status_code == status, (answer.status_code, answer.text[:500])
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error", "reason"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["reason"], str) and body["reason"]
    return body


def assert_sane(answer: requests.Response) -> object:
    """Anything but a 5xx, and JSON (errors in CouchDB's form)."""
    assert answer.status_code < 500, (answer.status_code, answer.text[:500])
    if answer.status_code >= 400:
        return assert_client_error(answer)
    if answer.headers.get("Content-Type", "").startswith("application/json"):
        return answer.json()
    return answer.content


# -- malformed bodies -------------------------------------------------------------------------

MALFORMED = {
    "empty": b"",
    "unclosed object": b'{"docs": [',
    "single quotes": b"{'docs': []}",
    "bare word": b"nul",
    "NaN": b'{"docs": [{"_id": "patrol:x", "n": NaN}]}',
    "Infinity": b'{"docs": Infinity}',
    "trailing garbage": b'{"docs": []} {"docs": []}',
    "NUL byte": b'{"docs": []}\x00',
    "comment": b'{"docs": [] /* hi */}',
    "lone surrogate escape": b'{"docs": [{"_id": "\\ud800"}]}',
    "huge number": b'{"docs": [], "n": ' + b"9" * 5000 + b"}",
    "deep nesting 65": b'{"docs": []' + b', "x": ' + b"[" * 65 + b"]" * 65 + b"}",
    "deep nesting 100000": b"[" * 100_000,
}
INVALID_UTF8 = {
    "lone continuation byte": b'{"docs": [{"_id": "patrol:\x80"}]}',
    "overlong slash": b'{"docs": [{"_id": "a\xc0\xafb"}]}',
    "encoded surrogate": b'{"docs": [{"_id": "\xed\xa0\x80"}]}',
    "truncated sequence": b'{"docs": [{"_id": "\xe8\xb5"}]}',
    "latin-1 text": '{"docs": [{"_id": "patrol:café"}]}'.encode("latin-1"),
    "gbk text": '{"docs": [{"_id": "巡逻"}]}'.encode("gbk"),
    "utf-16": '{"docs": []}'.encode("utf-16"),
}


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize("case", [*MALFORMED, *INVALID_UTF8])
def test_a_malformed_body_is_a_400_and_changes_nothing(
    gateway: Gateway, method: str, path: str, case: str
) -> None:
    before = gateway.state()
    body = assert_client_error(
        send(gateway, method, path, MALFORMED.get(case, INVALID_UTF8.get(case))), 400
    )
    assert body["error"] == "bad_request"
    assert gateway.state() == before


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "multipart/related; boundary=abc",
        "multipart/form-data; boundary=abc",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "image/jpeg",
    ],
)
def test_a_wrong_content_type_is_a_400_naming_it(
    gateway: Gateway, method: str, path: str, content_type: str
) -> None:
    before = gateway.state()
    body = json.dumps({"docs": [gateway.patrol()], "keys": [], "doc_ids": []}).encode()
    reason = assert_client_error(
        send(gateway, method, path, body, **{"Content-Type": content_type}), 400
    )["reason"]
    if content_type.startswith("multipart/related") and method == "PUT":
        # How CouchDB's replicator sends a document with attachments: read as such, and
        # this body is not one.
        assert "multipart" in reason and "boundary" in reason
    else:
        assert content_type.split(";")[0] in reason
    assert gateway.state() == before


# -- gzip and size limits ---------------------------------------------------------------------


def test_a_gzip_body_is_read(gateway: Gateway) -> None:
    doc = gateway.patrol()
    packed = gzip.compress(json.dumps({"docs": [doc]}).encode())
    answer = send(gateway, "POST", "_bulk_docs", packed, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 201 and answer.json()[0]["ok"] is True
    assert gateway.store.get(doc["_id"])["_rev"] == answer.json()[0]["rev"]


def _gzip_cases() -> dict[str, bytes]:
    good = gzip.compress(json.dumps({"docs": [{"_id": "patrol:x"}]}).encode())
    return {
        "not gzip at all": json.dumps({"docs": []}).encode(),
        "empty": b"",
        "header only": good[:10],
        "truncated stream": good[: len(good) // 2],
        "no trailer": good[:-8],
        "wrong crc": good[:-8] + b"\0\0\0\0" + good[-4:],
        "flipped bytes": good[:12] + bytes(b ^ 0xFF for b in good[12:20]) + good[20:],
        "trailing garbage": good + b"garbage",
        "raw deflate": zlib.compress(b'{"docs": []}'),
    }


@pytest.mark.parametrize("case", _gzip_cases())
def test_a_corrupt_gzip_body_is_a_400(gateway: Gateway, case: str) -> None:
    before = gateway.state()
    packed = _gzip_cases()[case]
    body = assert_client_error(
        send(gateway, "POST", "_bulk_docs", packed, **{"Content-Encoding": "gzip"}), 400
    )
    assert body["error"] == "bad_request"
    assert gateway.state() == before


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_a_gzip_bomb_is_a_413_stating_the_limit(gateway: Gateway, method: str, path: str) -> None:
    """1 MB of zeros is about 1 KB compressed: small on the wire, over the limit inflated."""
    before = gateway.state()
    bomb = gzip.compress(b"0" * (1024 * 1024), compresslevel=9)
    assert len(bomb) < 2048
    body = assert_client_error(
        send(gateway, method, path, bomb, **{"Content-Encoding": "gzip"}), 413
    )
    assert body["error"] == "too_large" and str(LIMIT) in body["reason"]
    assert gateway.state() == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_a_body_over_the_limit_is_a_413_stating_the_limit(
    gateway: Gateway, method: str, path: str, chunked: bool
) -> None:
    before = gateway.state()
    doc = {**gateway.patrol(), "notes": "巡" * LIMIT}
    data = json.dumps({"docs": [doc]}, ensure_ascii=False).encode()
    assert len(data) > LIMIT
    payload = iter([data[i : i + 65536] for i in range(0, len(data), 65536)]) if chunked else data
    answer = gateway.session.request(
        method,
        gateway.url(path),
        data=payload,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    body = assert_client_error(answer, 413)
    assert body["error"] == "too_large" and str(LIMIT) in body["reason"]
    assert gateway.state() == before


def test_an_attachment_over_the_limit_is_a_413(gateway: Gateway) -> None:
    before = gateway.state()
    doc = gateway.patrol()
    photo = base64.b64encode(bytes(LIMIT)).decode()
    doc["_attachments"] = {"photo.jpg": {"content_type": "image/jpeg", "data": photo}}
    answer = send(gateway, "PUT", quote_id(doc["_id"]), json.dumps(doc).encode())
    assert str(LIMIT) in assert_client_error(answer, 413)["reason"]
    packed = gzip.compress(json.dumps({"docs": [doc]}).encode())  # small compressed
    answer = send(gateway, "POST", "_bulk_docs", packed, **{"Content-Encoding": "gzip"})
    assert str(LIMIT) in assert_client_error(answer, 413)["reason"]
    assert gateway.state() == before


# -- documents that are refused one by one -------------------------------------------------------


def push(gw: Gateway, docs: list[object], new_edits: bool = True) -> list[dict]:
    answer = send(
        gw, "POST", "_bulk_docs", json.dumps({"docs": docs, "new_edits": new_edits}).encode()
    )
    assert answer.status_code == 201, answer.text[:500]
    return answer.json()


def assert_refused_and_kept(gw: Gateway, doc: dict, row: dict) -> None:
    """Refused with a reason and kept in the quarantine."""
    assert row.get("error") and row.get("reason"), row
    assert row["error"] != "conflict"
    assert (doc["_id"], str(doc.get("_rev", ""))) in gw.quarantine()


def md5_digest(data: bytes) -> str:
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()


ATTACHMENTS = {
    "digest does not match": {"data": "aGVsbG8=", "digest": md5_digest(b"other")},
    "length does not match": {"data": "aGVsbG8=", "length": 999},
    "not base64": {"data": "%%%not base64%%%"},
    "no data": {"content_type": "image/jpeg"},
    "content type not a string": {"data": "aGVsbG8=", "content_type": 5},
    "stub of data never sent": {"stub": True, "digest": md5_digest(b"somebody's photo")},
    "name with a control character": {"data": "aGVsbG8=", "name": "a\u0001.jpg"},
    "name starting with _": {"data": "aGVsbG8=", "name": "_photo.jpg"},
    "not an object": "aGVsbG8=",
}


@pytest.mark.parametrize("new_edits", [True, False], ids=["new_edits", "replicated"])
@pytest.mark.parametrize("case", ATTACHMENTS)
def test_a_mislabelled_attachment_is_refused_and_kept(
    gateway: Gateway, case: str, new_edits: bool
) -> None:
    doc = gateway.patrol()
    meta = ATTACHMENTS[case]
    if isinstance(meta, dict):
        meta = {"content_type": "image/jpeg", **meta}
        name = meta.pop("name", "photo.jpg")
    else:
        name = "photo.jpg"
    doc["_attachments"] = {name: meta}
    if not new_edits:
        doc["_rev"] = "1-" + uuid.uuid4().hex
    (row,) = push(gateway, [doc], new_edits)
    assert_refused_and_kept(gateway, doc, row)
    with pytest.raises(NotFound):
        gateway.store.get(doc["_id"])


def test_a_forged_history_is_refused_and_the_document_unchanged(gateway: Gateway) -> None:
    """A replicated path that gives a known revision another parent rewrites history."""
    doc = gateway.patrol()
    first, second = f"1-{uuid.uuid4().hex}", f"2-{uuid.uuid4().hex}"
    real = {
        **doc,
        "_rev": second,
        "_revisions": {"start": 2, "ids": [second[2:], first[2:]]},
    }
    assert push(gateway, [real], new_edits=False) == []
    before = gateway.store.open_revs(doc["_id"], "all")
    forged_parent = uuid.uuid4().hex
    third = f"3-{uuid.uuid4().hex}"
    forged_paths = {
        "same revision, another parent": {
            **doc,
            "zone": "改写的历史",
            "_rev": second,
            "_revisions": {"start": 2, "ids": [second[2:], forged_parent]},
        },
        "a child over a forged parent": {
            **doc,
            "_rev": third,
            "_revisions": {"start": 3, "ids": [third[2:], second[2:], forged_parent]},
        },
    }
    for forged in forged_paths.values():
        (row,) = push(gateway, [forged], new_edits=False)
        assert_refused_and_kept(gateway, forged, row)
        assert gateway.store.open_revs(doc["_id"], "all") == before
    # A replay of the real history and an honest child of it are still accepted.
    honest = {**doc, "_rev": third, "_revisions": {"start": 3, "ids": [third[2:], second[2:]]}}
    assert push(gateway, [real, honest], new_edits=False) == []
    assert gateway.store.get(doc["_id"], revs=True)["_revisions"]["ids"] == [
        third[2:],
        second[2:],
        first[2:],
    ]


@pytest.mark.parametrize("count", [1_500, 6_000])
def test_thousands_of_revisions_are_stemmed_not_refused(gateway: Gateway, count: int) -> None:
    doc = gateway.patrol()
    ids = [hashlib.md5(f"{doc['_id']}{n}".encode()).hexdigest() for n in range(count)]
    replicated = {**doc, "_rev": f"{count}-{ids[0]}", "_revisions": {"start": count, "ids": ids}}
    assert push(gateway, [replicated], new_edits=False) == []
    history = gateway.store.get(doc["_id"], revs=True)["_revisions"]
    assert history["start"] == count and history["ids"][0] == ids[0]
    assert len(history["ids"]) <= 1000


REVISIONS = {
    "start below the ids": lambda r: {"start": 1, "ids": [r, "b" * 32]},
    "start zero": lambda r: {"start": 0, "ids": [r]},
    "negative start": lambda r: {"start": -3, "ids": [r]},
    "ids not a list": lambda r: {"start": 1, "ids": r},
    "not an object": lambda r: [r],
    "no ids": lambda r: {"start": 1},
    "ids not strings": lambda r: {"start": 2, "ids": [r, 5]},
    "does not end at _rev": lambda r: {"start": 1, "ids": ["c" * 32]},
    "huge start": lambda r: {"start": 2**70, "ids": [r]},
}


@pytest.mark.parametrize("case", REVISIONS)
def test_a_malformed_revisions_list_is_refused_and_kept(gateway: Gateway, case: str) -> None:
    doc = gateway.patrol()
    digest = uuid.uuid4().hex
    doc["_rev"] = f"1-{digest}"
    doc["_revisions"] = REVISIONS[case](digest)
    (row,) = push(gateway, [doc], new_edits=False)
    assert_refused_and_kept(gateway, doc, row)
    with pytest.raises(NotFound):
        gateway.store.get(doc["_id"])


ABSENT = object()


@pytest.mark.parametrize(
    "place",
    [ABSENT, None, "", "abc", 5, ["422827"], GRID, VILLAGE, OTHER_VILLAGE, "422827"],
    ids=repr,
)
def test_a_tombstone_with_a_body_is_judged_by_its_place(gateway: Gateway, place: object) -> None:
    """A deletion carrying a body: without a valid place it stays where the document was;
    with a place outside the scope it would move the document there, and is refused."""
    doc = gateway.patrol()
    assert gateway.store.bulk_docs([doc])[0]["ok"]
    stored = gateway.store.get(doc["_id"])
    digest = uuid.uuid4().hex
    tombstone = {
        "_id": doc["_id"],
        "_rev": f"2-{digest}",
        "_revisions": {"start": 2, "ids": [digest, stored["_rev"][2:]]},
        "_deleted": True,
        "type": "patrol",
        "note": "删除",
    }
    if place is not ABSENT:
        tombstone["place"] = place
    rows = push(gateway, [tombstone], new_edits=False)
    outside = place in (OTHER_VILLAGE, "422827")
    if outside:
        assert_refused_and_kept(gateway, tombstone, rows[0])
        assert gateway.store.get(doc["_id"])["_rev"] == stored["_rev"]
        return
    assert rows == [], rows
    assert gateway.store.open_revs(doc["_id"], [tombstone["_rev"]])[0]["ok"]["_deleted"]
    # Still where it was for the volunteer's feed: the deletion reaches their tablets.
    feed = gateway.session.get(
        gateway.url("_changes"), params={"filter": "_doc_ids", "doc_ids": json.dumps([doc["_id"]])},
        timeout=30,
    ).json()["results"]  # fmt: skip
    assert [(row["id"], row.get("deleted")) for row in feed] == [(doc["_id"], True)]


# -- hostile ids ----------------------------------------------------------------------------------

HOSTILE_IDS = [
    "patrol:../../etc/passwd",
    "..",
    ".",
    "patrol:a/b",
    "/patrol:x",
    "_design/x",
    "_local/x",
    "_all_docs",
    "patrol:\u0000",
    "patrol:\u0007bell",
    "patrol:\u202eevil",
    "patrol:走访",
    "place:白岩村",
    "patrol:" + "A" * 600,
    "patrol:%2e%2e",
    "household:01J6Z3M4Q8XK2V7N5R0T9B1C3D?rev=1-a",
    "patrol:a#b",
    " patrol:x",
    "",
]


@pytest.mark.parametrize("doc_id", HOSTILE_IDS, ids=[repr(i)[:40] for i in HOSTILE_IDS])
def test_a_hostile_id_in_a_push_is_refused_per_document(gateway: Gateway, doc_id: str) -> None:
    doc = {**gateway.patrol(), "_id": doc_id}
    good = gateway.patrol()
    rows = push(gateway, [doc, good])
    assert rows[0]["error"] in ("forbidden", "bad_request") and rows[0]["reason"]
    assert rows[1]["ok"] is True  # one bad document does not sink the batch
    if doc_id:
        assert (doc_id, "") in gateway.quarantine()
    assert_no_doc(gateway, doc_id)


def assert_no_doc(gw: Gateway, doc_id: str) -> None:
    # Read from the store's own feed: asking CouchDB for "." or ".." by URL asks for the
    # database itself.
    assert doc_id not in {row["id"] for row in gw.store.changes(since=0)}, f"{doc_id!r} stored"


@pytest.mark.parametrize("doc_id", HOSTILE_IDS, ids=[repr(i)[:40] for i in HOSTILE_IDS])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_hostile_id_in_a_url_is_a_clean_answer(
    gateway: Gateway, doc_id: str, method: str
) -> None:
    path = quote(doc_id, safe="")
    body = json.dumps({**gateway.patrol(), "_id": doc_id}).encode() if method == "PUT" else None
    answer = send(gateway, method, path + ("?rev=1-a" if method == "DELETE" else ""), body)
    assert_sane(answer)
    if method != "GET" and doc_id != "_local/x":  # that one is a checkpoint's address
        assert answer.status_code >= 400
    assert_no_doc(gateway, doc_id)


# -- replays --------------------------------------------------------------------------------------


@pytest.mark.parametrize("new_edits", [True, False], ids=["new_edits", "replicated"])
def test_a_replayed_push_is_idempotent(gateway: Gateway, new_edits: bool) -> None:
    good = [gateway.patrol() for _ in range(3)]
    bad_time = {**gateway.patrol(), "started_at": "2024-08-25 09:30"}  # no time zone
    elsewhere = gateway.patrol(OTHER_VILLAGE + "002")  # outside the volunteer's scope
    docs = [*good, bad_time, elsewhere]
    if not new_edits:
        docs = [{**d, "_rev": f"1-{uuid.uuid4().hex}"} for d in docs]
    first = push(gateway, docs, new_edits)
    seq, quarantined = gateway.state()
    notices = {d["_id"]: gateway.store.get(notice_id(d["_id"]))["_rev"] for d in docs[3:]}
    replays = [push(gateway, docs, new_edits) for _ in range(2)]
    assert all(replay == first for replay in replays)
    assert gateway.state() == (seq, quarantined)  # not one new revision, not one new row
    rows = gateway.quarantine()
    for doc in docs[3:]:
        assert rows.count((doc["_id"], str(doc.get("_rev", "")))) == 1
        assert gateway.store.get(notice_id(doc["_id"]))["_rev"] == notices[doc["_id"]]
    for doc in good:
        assert len(gateway.store.open_revs(doc["_id"], "all")) == 1


def test_a_retried_put_gets_the_same_revision(gateway: Gateway) -> None:
    doc = gateway.patrol()
    url = quote_id(doc["_id"])
    answers = [send(gateway, "PUT", url, json.dumps(doc).encode()) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["rev"] for a in answers}) == 1
    assert len(gateway.store.open_revs(doc["_id"], "all")) == 1


# -- generated input ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(data=st.binary(max_size=600), endpoint=st.sampled_from(BODY_ENDPOINTS))
def test_generated_bytes_never_cause_a_5xx(
    gateway: Gateway, data: bytes, endpoint: tuple[str, str]
) -> None:
    before = gateway.state()
    answer = send(gateway, *endpoint, data)
    assert_sane(answer)
    if answer.status_code >= 400:
        assert gateway.state()[0] == before[0]


@SETTINGS
@given(
    data=st.binary(max_size=300),
    endpoint=st.sampled_from(BODY_ENDPOINTS),
    level=st.integers(0, 9),
    cut=st.integers(0, 40),
)
def test_generated_gzip_never_causes_a_5xx(
    gateway: Gateway, data: bytes, endpoint: tuple[str, str], level: int, cut: int
) -> None:
    packed = gzip.compress(data, compresslevel=level)
    packed = packed[: len(packed) - cut]
    assert_sane(send(gateway, *endpoint, packed, **{"Content-Encoding": "gzip"}))


@SETTINGS
@given(body=json_values, endpoint=st.sampled_from(BODY_ENDPOINTS))
def test_generated_json_never_causes_a_5xx(
    gateway: Gateway, body: object, endpoint: tuple[str, str]
) -> None:
    assert_sane(send(gateway, *endpoint, json.dumps(body).encode()))


def _docs() -> st.SearchStrategy[dict]:
    """Documents that are mostly almost right: a real patrol with parts replaced."""
    special = st.fixed_dictionaries(
        {},
        optional={
            "_id": st.text(max_size=40) | st.sampled_from(HOSTILE_IDS) | json_values,
            "_rev": st.sampled_from(["1-a", "1-" + "a" * 32, "x", ""]) | json_values,
            "_deleted": st.booleans() | json_values,
            "_revisions": json_values
            | st.fixed_dictionaries(
                {"start": st.integers(-2, 3000), "ids": st.lists(st.text(max_size=34))}
            ),
            "_attachments": json_values
            | st.dictionaries(
                st.text(max_size=10),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "data": st.text(max_size=20),
                        "digest": st.text(max_size=30),
                        "length": json_values,
                        "stub": st.booleans(),
                        "content_type": json_values,
                    },
                ),
                max_size=2,
            ),
            "_conflicts": json_values,
            "_unknown": json_values,
            "type": st.sampled_from(["patrol", "household", "place", "rejection_notice"])
            | json_values,
            "place": st.sampled_from([VILLAGE, GRID, OTHER_VILLAGE, "abc", "", "422827"])
            | json_values,
            "review": json_values,
            "started_at": json_values,
        },
    )
    return special


@SETTINGS
@given(changes=st.lists(_docs(), min_size=1, max_size=4), new_edits=st.booleans())
def test_generated_documents_are_judged_one_by_one(
    gateway: Gateway, changes: list[dict], new_edits: bool
) -> None:
    docs = [{**gateway.patrol(), **change} for change in changes]
    for doc in docs:
        if new_edits and doc.get("_rev") == "1-a":
            doc.pop("_rev")
    answer = send(
        gateway,
        "POST",
        "_bulk_docs",
        json.dumps({"docs": docs, "new_edits": new_edits}).encode(),
    )
    body = assert_sane(answer)
    if answer.status_code >= 400:
        return  # the whole request was refused (e.g. plain-JSON checks): nothing written
    assert isinstance(body, list)
    # Every refused revision of a document with an id is in the quarantine.
    refused = [row for row in body if "error" in row and row["error"] != "conflict"]
    quarantined = {doc_id for doc_id, _ in gateway.quarantine()}
    for row in refused:
        if isinstance(row.get("id"), str):
            assert row["id"] in quarantined, row
    if new_edits:
        assert len(body) == len(docs)


query_text = st.text(max_size=30) | st.sampled_from(
    ["²", "١٢", "9" * 30, "9" * 5000, "-1", "[" * 3000, "true", "null", '["1-a"]', "all", "now"]
)


@SETTINGS
@given(
    name=st.sampled_from(
        ["rev", "revs", "open_revs", "atts_since", "conflicts", "attachments", "latest"]
    ),
    value=query_text,
)
def test_generated_document_query_never_causes_a_5xx(
    gateway: Gateway, name: str, value: str
) -> None:
    doc_id = gateway.store.changes(since=0, limit=1).__next__()["id"]
    assert_sane(
        gateway.session.get(gateway.url(quote_id(doc_id)), params={name: value}, timeout=60)
    )


@SETTINGS
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["since", "limit", "feed", "style", "include_docs", "filter", "doc_ids", "timeout",
             "heartbeat", "descending"]
        ),
        query_text,
        max_size=4,
    ),
    endpoint=st.sampled_from(["_changes", "_all_docs"]),
)  # fmt: skip
def test_generated_feed_query_never_causes_a_5xx(
    gateway: Gateway, params: dict[str, str], endpoint: str
) -> None:
    params = {**params, "timeout": "100"} if params.get("feed") == "longpoll" else params
    assert_sane(gateway.session.get(gateway.url(endpoint), params=params, timeout=60))


@SETTINGS
@given(doc_id=st.text(min_size=1, max_size=40), method=st.sampled_from(["GET", "PUT", "DELETE"]))
def test_generated_ids_in_urls_never_cause_a_5xx(
    gateway: Gateway, doc_id: str, method: str
) -> None:
    try:
        path = quote(doc_id, safe="")
    except UnicodeEncodeError:  # a lone surrogate cannot even be sent
        return
    if path in (".", ".."):
        path = quote(path, safe="").replace(".", "%2E")
    body = json.dumps({**gateway.patrol(), "_id": doc_id}) if method == "PUT" else None
    answer = gateway.session.request(
        method,
        gateway.url(path),
        params={"rev": "1-a"} if method == "DELETE" else None,
        data=body.encode("utf-8", "surrogatepass") if body else None,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert_sane(answer)


def test_a_long_doc_ids_filter_is_answered(county: County) -> None:
    """More ids than SQLite takes as query variables (250,000) in one filter (the default
    request limit, 16 MiB, lets them through)."""
    county.add_user("lisi", "volunteer", VILLAGE)
    doc = {**DemoCounty(3).patrol(next(v for v in DemoCounty().villages if v.code == VILLAGE))}
    store = county.app.extensions["fieldsync"].store
    store.bulk_docs([doc])
    ids = [f"p{n}" for n in range(260_000)] + [doc["_id"]]
    with county.session("lisi") as session:
        answer = session.post(
            f"{county.url}/db/_changes",
            params={"filter": "_doc_ids"},
            data=gzip.compress(json.dumps({"doc_ids": ids}).encode()),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text[:300]
    assert [row["id"] for row in answer.json()["results"]] == [doc["_id"]]
