"""Shared field types (Location, Text) checked through real documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from schemas import validate_document
from schemas.messages import msg, split_message
from schemas.testing import DELETE, assert_error, example, with_value

REQUIRED = ("缺少必填字段。", "Missing data for required field.")
NOT_STRING = ("必须是字符串。", "Not a valid string.")
NOT_NUMBER = ("必须是数字。", "Not a valid number.")
NOT_OBJECT = ("必须是 JSON 对象。", "Invalid input type: must be a JSON object.")
NAIVE = (
    "缺少时区：时间必须带 UTC 偏移，如 +08:00。",
    "Time zone missing: the time must carry a UTC offset such as +08:00.",
)
CONTROL = (
    "文本含有控制字符（只允许换行和制表符）。",
    "Text contains control characters (only newline and tab are allowed).",
)
SURROGATE = (
    "文本含有无效的 Unicode 代理字符（编码已损坏）。",
    "Text contains unpaired Unicode surrogates (broken encoding).",
)


def patrol(**changes: Any) -> dict[str, Any]:
    doc = example("patrol")
    doc.update(changes)
    return doc


# -- location -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "zh", "en"),
    [
        ("lat", 90.0001, "不能大于 90。", "Must be less than or equal to 90."),
        ("lat", -91, "不能小于 -90。", "Must be greater than or equal to -90."),
        ("lon", 180.5, "不能大于 180。", "Must be less than or equal to 180."),
        ("lon", -181, "不能小于 -180。", "Must be greater than or equal to -180."),
        ("accuracy_m", 0, "必须大于 0。", "Must be greater than 0."),
        ("accuracy_m", 10001, "不能大于 10000。", "Must be less than or equal to 10000."),
        ("altitude_m", 9001, "不能大于 9000。", "Must be less than or equal to 9000."),
        ("altitude_m", -501, "不能小于 -500。", "Must be greater than or equal to -500."),
        ("lat", "29.5", *NOT_NUMBER),
        ("lat", True, *NOT_NUMBER),
        ("lat", float("nan"), "不允许 NaN 或无穷大。", "NaN and infinity are not permitted."),
        ("lon", float("-inf"), "不允许 NaN 或无穷大。", "NaN and infinity are not permitted."),
        ("lat", DELETE, *REQUIRED),
        ("accuracy_m", DELETE, *REQUIRED),
        ("taken_at", "2024-08-25T11:42:00", *NAIVE),
    ],
)
def test_location_rules(key: str, value: Any, zh: str, en: str) -> None:
    doc = with_value(example("patrol"), ["location", key], value)
    assert_error(doc, ["location", key], zh, en)


def test_location_accepts_the_boundaries() -> None:
    doc = patrol(location={"lat": -90, "lon": 180, "accuracy_m": 10000, "altitude_m": None})
    assert validate_document(doc) == doc


def test_location_must_be_an_object() -> None:
    assert_error(patrol(location=[29.5, 109.4]), ["location", "_schema"], *NOT_OBJECT)


# -- text ---------------------------------------------------------------------------


def test_text_is_nfc_normalised() -> None:
    cleaned = validate_document(patrol(zone="Cafe\u0301 第三网格"))
    assert cleaned["zone"] == "Caf\u00e9 第三网格"


def test_text_keeps_newlines_and_tabs() -> None:
    doc = patrol(zone="第一段\n第二段\t完")
    assert validate_document(doc) == doc


def test_mojibake_is_stored_exactly_as_received() -> None:
    # Valid Unicode that merely looks broken cannot be told apart: keep it intact.
    doc = patrol(zone="耙鎲ⅰ 來鳳縣")
    assert validate_document(doc)["zone"] == "耙鎲ⅰ 來鳳縣"


@pytest.mark.parametrize("bad", ["a\x00b", "a\rb", "a\x1bb", "a\x7fb", "a\x85b", "a\x9fb"])
def test_text_refuses_control_characters(bad: str) -> None:
    assert_error(patrol(zone=bad), ["zone"], *CONTROL)


def test_text_refuses_lone_surrogates_from_broken_utf8() -> None:
    broken = b"\xe6\x9d\xa5\xff\xfe".decode("utf-8", "surrogateescape")
    assert_error(patrol(zone=broken), ["zone"], *SURROGATE)


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_text_refuses_blank(blank: str) -> None:
    assert_error(patrol(zone=blank), ["zone"], "不能为空白。", "Must not be blank.")


def test_text_length_limit_counts_characters() -> None:
    assert validate_document(patrol(zone="区" * 200))["zone"] == "区" * 200
    assert_error(
        patrol(zone="区" * 201),
        ["zone"],
        "不能超过 200 个字符。",
        "Must be at most 200 characters long.",
    )


@pytest.mark.parametrize("bad", [3, ["第三网格"], {"zh": "第三网格"}, True])
def test_text_must_be_a_string(bad: Any) -> None:
    assert_error(patrol(zone=bad), ["zone"], *NOT_STRING)


# -- times: one grammar at both ends ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-08-25T09:30+08:00",
        "2024-08-25T09:30:00Z",
        "2024-08-25 09:30:00+08:00",
        "2024-08-25T09:30:00.123456789+0800",
        "2024-08-25T09:30:00,5+08",
        "2024-08-25T09:30:00-03:30",
    ],
)
def test_times_in_the_shared_grammar_are_read(value: str) -> None:
    cleaned = validate_document(patrol(started_at=value, ended_at=value))
    assert cleaned["started_at"] == dt.datetime.fromisoformat(value).isoformat()


@pytest.mark.parametrize(
    "value",
    [
        "2024-08-25T09:30.5+08:00",  # a fraction of a minute (Python 3.11 takes it)
        "2024-08-25T09:30:00+08:75",  # no such offset minute
        "2024-08-25T09:30:00 +08:00",  # a space before the offset
        "2024-08-25T09:30:00+24:00",
        "2024-08-25T24:00:00+08:00",  # hours 24 and months 13 parse but do not exist
        "2024-13-25T09:30:00+08:00",
        "20240825T093000+0800",  # basic format
        "2024-08-25T09:30:00+08:00:00",
        "2024-08-25",
    ],
)
def test_times_outside_the_shared_grammar_are_invalid(value: str) -> None:
    invalid = split_message(msg("invalid_datetime"))
    assert_error(
        patrol(started_at=value, ended_at=value), ["started_at"], invalid["zh"], invalid["en"]
    )


def test_time_without_an_offset_is_naive_even_when_it_parses() -> None:
    assert_error(patrol(started_at="2024-08-25T09:30:00"), ["started_at"], *NAIVE)
