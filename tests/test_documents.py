"""Bad input at the byte level, and Mango selectors: clear errors, right answers."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.documents import MAX_DEPTH, dump_json, load_json, parse_json_bytes
from sync.errors import BadRequest, TooLarge
from sync.selector import compile_selector


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        pytest.param(b'{"name": "\xff\xfe"}', "UTF-8", id="invalid-utf8"),
        pytest.param("{'name': '耙鎲'}".encode("gbk"), "UTF-8", id="gbk-bytes"),
        pytest.param(b'{"a": 1,}', "not valid JSON", id="trailing-comma"),
        pytest.param(b'{"a": NaN}', "JSON number", id="nan"),
        pytest.param(b'{"a": Infinity}', "JSON number", id="infinity"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested", id="deeply-nested"),
        pytest.param(b'{"a": "\\ud800"}', "UTF-8", id="escaped-lone-surrogate"),
        pytest.param(b"", "not valid JSON", id="empty"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", "not valid JSON", id="huge-integer"),
    ],
)
def test_bad_bodies_are_named(raw: bytes, named: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json_bytes(raw)
    assert named in caught.value.reason


def _nested(depth: int, tail: bytes = b"0") -> bytes:
    """`depth` objects and lists inside each other around `tail` (the top one is depth 0)."""
    opening = b"".join(b'{"k":' if level % 2 else b"[" for level in range(depth + 1))
    closing = b"".join(b"}" if level % 2 else b"]" for level in reversed(range(depth + 1)))
    return opening + tail + closing


# orjson reads the body unless it holds an integer of 19+ digits: both roads are checked.
@pytest.mark.parametrize("tail", [b"0", b"1234567890123456789012"], ids=["orjson", "stdlib"])
def test_a_body_may_nest_exactly_max_depth_levels(tail: bytes) -> None:
    assert parse_json_bytes(_nested(MAX_DEPTH, tail)) is not None
    with pytest.raises(BadRequest) as caught:
        parse_json_bytes(_nested(MAX_DEPTH + 1, tail))
    assert "nested" in caught.value.reason


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: orjson reads beyond 64 bits as a float, json exactly
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_fast_json_reads_and_writes_exactly_what_the_standard_library_does(value: object) -> None:
    """load_json and dump_json use orjson for speed; every value must come back as the
    standard library would give it, big integers and lone surrogates included."""
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )
    expected = json.loads(raw)
    assert _same(load_json(raw), expected)
    assert _same(load_json(json.dumps(value).encode()), expected)  # \u escapes
    assert _same(load_json(json.dumps(value, indent=2).encode()), expected)  # newlines
    if "\\ud" not in json.dumps(value):  # dump_json's callers check surrogates first
        assert _same(json.loads(dump_json(value)), expected)


def _same(a: object, b: object) -> bool:
    """Equal with types: 1 == 1.0 == True in Python, not in JSON."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)  # type: ignore[union-attr]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    return a == b


@pytest.mark.parametrize(
    "raw",
    [b'["\\ud800"]', b"[12345678901234567890123]", b"[1e400]"],
)
def test_fast_json_falls_back_where_orjson_differs(raw: bytes) -> None:
    assert _same(load_json(raw), json.loads(raw))


def test_fast_json_refuses_a_byte_order_mark_as_the_standard_library_does() -> None:
    with pytest.raises(ValueError, match="BOM"):
        load_json(b'\xef\xbb\xbf{"a": 1}')


def test_fast_json_reads_nan_as_the_standard_library_does() -> None:
    (value,) = load_json(b"[NaN]")  # type: ignore[misc]
    assert isinstance(value, float) and math.isnan(value)


def test_body_over_the_limit_states_the_limit() -> None:
    with pytest.raises(TooLarge) as caught:
        parse_json_bytes(b'"' + b"x" * 2000 + b'"', limit=1000)
    assert "1000" in caught.value.reason and caught.value.status == 413


def test_mojibake_is_kept_exactly_as_sent() -> None:
    text = "耙鎲ⅰ 龍門寨（lóngménzhài）"
    assert parse_json_bytes(f'{{"note": "{text}"}}'.encode()) == {"note": text}


DOCS = [
    {"_id": "p1", "type": "patrol", "place": "422827101201001", "incidents": [{"kind": "fraud"}]},
    {"_id": "w1", "type": "water_source", "people_served": 120, "status": "piped"},
    {"_id": "w2", "type": "water_source", "people_served": 8, "status": "dry"},
    {"_id": "h1", "type": "home_visit", "services": ["haircut", "cleaning"], "needs": []},
]


@pytest.mark.parametrize(
    ("selector", "ids"),
    [
        ({"type": "water_source"}, ["w1", "w2"]),
        ({"type": "water_source", "people_served": {"$gte": 100}}, ["w1"]),
        ({"people_served": {"$lt": 100}}, ["w2"]),
        ({"status": {"$in": ["piped", "in_use"]}}, ["w1"]),
        ({"status": {"$nin": ["piped"]}}, ["p1", "w2", "h1"]),
        ({"status": {"$exists": False}}, ["p1", "h1"]),
        ({"place": {"$regex": "^4228271012"}}, ["p1"]),
        ({"incidents": {"$elemMatch": {"kind": "fraud"}}}, ["p1"]),
        ({"services": {"$size": 2}}, ["h1"]),
        ({"services": "haircut"}, []),  # equality is exact: arrays need $elemMatch
        ({"services": {"$elemMatch": {"$eq": "haircut"}}}, ["h1"]),
        ({"$or": [{"_id": "p1"}, {"status": "dry"}]}, ["p1", "w2"]),
        ({"$nor": [{"type": "patrol"}, {"type": "home_visit"}]}, ["w1", "w2"]),
        ({"type": {"$ne": "patrol"}, "$not": {"status": "dry"}}, ["w1", "h1"]),
        ({"incidents.0.kind": "fraud"}, []),  # array indexes are not paths
        ({"type": {"$gt": 5}}, ["p1", "w1", "w2", "h1"]),  # strings sort after numbers
    ],
)
def test_selectors(selector: dict, ids: list[str]) -> None:
    matches = compile_selector(selector)
    assert [doc["_id"] for doc in DOCS if matches(doc)] == ids


@pytest.mark.parametrize(
    "selector",
    [
        {"type": {"$like": "x"}},
        {"$where": "1"},
        {"$or": []},
        {"a": {"$in": 3}},
        ["type"],
        {"a": {"$regex": "("}},
    ],
)
def test_unknown_or_malformed_selectors_are_refused(selector: object) -> None:
    with pytest.raises(BadRequest):
        compile_selector(selector)
