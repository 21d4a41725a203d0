"""Document ids (ULIDs, id safety rules) and place codes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import (
    doc_id_error,
    generate_doc_id,
    is_place_code,
    new_doc_id,
    place_level,
    place_parent,
    place_within,
    split_doc_id,
    ulid_time_ms,
)
from schemas.ids import encode_ulid

ID_RE = re.compile(r"[a-z_]+:[0-7][0-9A-HJKMNP-TV-Z]{25}")

# -- new_doc_id ---------------------------------------------------------------


def test_new_doc_id_of_zero_time_and_zero_bytes() -> None:
    assert new_doc_id("patrol", 0, bytes(10)) == "patrol:" + "0" * 26


def test_new_doc_id_of_largest_time_and_bytes() -> None:
    assert new_doc_id("home_visit", 2**48 - 1, b"\xff" * 10) == "home_visit:7" + "Z" * 25


def test_new_doc_id_puts_the_time_in_the_first_ten_digits() -> None:
    doc_id = new_doc_id("patrol", 1724549400000, bytes(range(10)))
    assert doc_id == "patrol:01J63JF1E0000G40R40M30E209"
    assert ulid_time_ms(split_doc_id(doc_id)[1]) == 1724549400000


def test_ids_sort_by_time() -> None:
    ids = [new_doc_id("patrol", t, b"\xff" * 10) for t in (1, 2, 1000, 2**40)]
    assert ids == sorted(ids)


def test_encode_ulid_uses_crockford_alphabet() -> None:
    assert encode_ulid(31) == "0" * 25 + "Z"
    assert encode_ulid(32) == "0" * 24 + "10"


@pytest.mark.parametrize(
    ("doc_type", "now_ms", "random_bytes"),
    [
        ("visit", 0, bytes(10)),
        ("patrol", -1, bytes(10)),
        ("patrol", 2**48, bytes(10)),
        ("patrol", True, bytes(10)),
        ("patrol", 1.5, bytes(10)),
        ("patrol", 0, bytes(9)),
        ("patrol", 0, "0123456789"),
    ],
)
def test_new_doc_id_refuses_bad_arguments(doc_type, now_ms, random_bytes) -> None:
    with pytest.raises(ValueError) as caught:
        new_doc_id(doc_type, now_ms, random_bytes)
    assert str(caught.value) == (
        "生成编号需要已知类型、0 至 2^48-1 的毫秒时间和 10 个随机字节。 / "
        "A new id needs a known type, a time of 0 to 2^48-1 ms and 10 random bytes."
    )


def test_generate_doc_id_gives_distinct_valid_ids() -> None:
    first, second = generate_doc_id("water_source"), generate_doc_id("water_source")
    assert first != second
    assert ID_RE.fullmatch(first)
    assert doc_id_error(first) is None


def test_ulid_time_ms_refuses_non_canonical_ulids() -> None:
    with pytest.raises(ValueError):
        ulid_time_ms("01j63jf1e0000g40r40m30e209")


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))
def test_new_doc_id_round_trips_its_time(now_ms: int, random_bytes: bytes) -> None:
    doc_id = new_doc_id("household", now_ms, random_bytes)
    assert doc_id_error(doc_id, "household") is None
    assert ulid_time_ms(split_doc_id(doc_id)[1]) == now_ms


# -- doc_id_error (the id rules, independent of any schema) -------------------

ULID = "01J63JF1E0000G40R40M30E209"


@pytest.mark.parametrize(
    ("doc_id", "zh", "en"),
    [
        (42, "必须是字符串。", "Not a valid string."),
        ("", "文档编号不能为空。", "Document id must not be empty."),
        (
            "patrol:\ud800",
            "文本含有无效的 Unicode 代理字符（编码已损坏）。",
            "Text contains unpaired Unicode surrogates (broken encoding).",
        ),
        (
            "user:" + "汉" * 170,
            "文档编号不能超过 512 字节（UTF-8）。",
            "Document id must be at most 512 bytes of UTF-8.",
        ),
        (
            "user:a\x00b",
            "文档编号不能含有控制字符。",
            "Document id must not contain control characters.",
        ),
        (
            "user:a\x9fb",
            "文档编号不能含有控制字符。",
            "Document id must not contain control characters.",
        ),
        ("_design/app", "文档编号不能以“_”开头。", "Document id must not start with '_'."),
        ("user:a/b", "文档编号不能含有“/”。", "Document id must not contain '/'."),
        (
            "patrol-" + ULID,
            "文档编号须为“类型:ULID”格式，如 patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D。",
            "Document id must be 'type:ULID', e.g. patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D.",
        ),
        (
            "visit:" + ULID,
            "文档编号的类型前缀未知；已知类型：patrol, water_source, home_visit, household, "
            "place, team, station, user, rejection_notice。",
            "Unknown type prefix in document id; known types: patrol, water_source, home_visit, "
            "household, place, team, station, user, rejection_notice.",
        ),
        (
            "patrol:my-patrol",
            "文档编号须为“类型:ULID”格式，如 patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D。",
            "Document id must be 'type:ULID', e.g. patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D.",
        ),
        (
            "patrol:" + ULID.lower(),
            "文档编号须为“类型:ULID”格式，如 patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D。",
            "Document id must be 'type:ULID', e.g. patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D.",
        ),
        (
            "patrol:8" + ULID[1:],
            "文档编号须为“类型:ULID”格式，如 patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D。",
            "Document id must be 'type:ULID', e.g. patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D.",
        ),
        (
            "user:张三",
            "文档编号须为“类型:ULID”或“类型:简称”（1-200 个字母、数字或 _ . -）。",
            "Document id must be 'type:ULID' or 'type:slug' (1-200 of A-Z a-z 0-9 _ . -).",
        ),
        (
            "user:" + "a" * 201,
            "文档编号须为“类型:ULID”或“类型:简称”（1-200 个字母、数字或 _ . -）。",
            "Document id must be 'type:ULID' or 'type:slug' (1-200 of A-Z a-z 0-9 _ . -).",
        ),
    ],
)
def test_doc_id_rules(doc_id: object, zh: str, en: str) -> None:
    assert doc_id_error(doc_id) == f"{zh} / {en}"


def test_doc_id_of_the_wrong_type() -> None:
    assert doc_id_error("team:zhangfuqing", "user") == (
        "此处须为 user 类型的文档编号。 / Must be a user document id."
    )


@pytest.mark.parametrize(
    "doc_id",
    ["patrol:" + ULID, "place:422827101201", "user:zhangsan", "team:a.b-c_d", "user:" + ULID],
)
def test_valid_doc_ids(doc_id: str) -> None:
    assert doc_id_error(doc_id) is None


def test_split_doc_id() -> None:
    assert split_doc_id("user:zhangsan") == ("user", "zhangsan")
    assert split_doc_id("nocolon") == ("nocolon", "")


# -- place codes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("422827", "county", None),
        ("422827100", "township", "422827"),
        ("422827100201", "village", "422827100"),
        ("422827100201003", "grid", "422827100201"),
    ],
)
def test_place_levels_and_parents(code: str, level: str, parent: str | None) -> None:
    assert place_level(code) == level
    assert place_parent(code) == parent


def test_place_within_is_a_prefix_rule() -> None:
    assert place_within("422827100201003", "422827")
    assert place_within("422827100201003", "422827100201003")
    assert place_within("422827100201", "422827100")
    assert not place_within("422827100", "422827100201")
    assert not place_within("422827101201", "422827100")
    assert not place_within("422828100201", "422827")


@pytest.mark.parametrize(
    "code",
    ["42282", "4228271", "42282710020", "4228271002010031", "42282a", "４２２８２７", 422827],
)
def test_invalid_place_codes_are_refused_with_a_bilingual_message(code: object) -> None:
    assert not is_place_code(code)
    for func in (place_level, place_parent, lambda c: place_within(c, "422827")):
        with pytest.raises(ValueError) as caught:
            func(code)
        assert str(caught.value) == (
            "地区编码须为 6、9、12 或 15 位数字。 / Place code must be 6, 9, 12 or 15 digits."
        )


codes = st.builds(
    lambda county, rest: county + rest,
    st.from_regex(r"[0-9]{6}", fullmatch=True),
    st.sampled_from([0, 1, 2, 3]).flatmap(
        lambda n: st.from_regex(rf"[0-9]{{{3 * n}}}", fullmatch=True) if n else st.just("")
    ),
)


def _ancestors(code: str) -> list[str]:
    chain: list[str] = []
    current: str | None = code
    while current is not None:
        chain.append(current)
        current = place_parent(current)
    return chain


@given(codes, codes)
def test_place_within_agrees_with_the_parent_chain(code: str, scope: str) -> None:
    assert place_within(code, scope) == (scope in _ancestors(code))


@given(codes, st.data())
def test_every_ancestor_contains_the_code(code: str, data: st.DataObject) -> None:
    scope = data.draw(st.sampled_from(_ancestors(code)))
    assert place_within(code, scope)
    parent = place_parent(code)
    if parent is not None:
        levels = ["county", "township", "village", "grid"]
        assert levels.index(place_level(parent)) == levels.index(place_level(code)) - 1
        assert not place_within(parent, code)
