"""Reference data: places, teams, stations, users."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import validate_document
from schemas.testing import (
    COUNTY,
    DELETE,
    GRID,
    TOWNSHIP,
    VILLAGE,
    assert_error,
    example,
    with_value,
)

REQUIRED = ("缺少必填字段。", "Missing data for required field.")


def doc_of(doc_type: str, **changes: Any) -> dict[str, Any]:
    doc = example(doc_type)
    doc.update(changes)
    return doc


# -- place --------------------------------------------------------------------------


def test_a_village_place_validates() -> None:
    doc = example("place")
    assert validate_document(doc) == doc


def test_the_county_has_no_parent() -> None:
    doc = doc_of(
        "place", _id="place:422827", place=COUNTY, code=COUNTY, name_zh="来凤县",
        name_en="Laifeng County", level="county", parent=None,
    )  # fmt: skip
    assert validate_document(doc) == doc
    assert_error(
        {**doc, "parent": "422827"},
        ["parent"],
        "县级地区没有上级编码。",
        "A county has no parent code.",
    )


@pytest.mark.parametrize("parent", ["422827101", DELETE, None])
def test_place_parent_is_the_code_without_its_last_three_digits(parent: Any) -> None:
    assert_error(
        with_value(example("place"), ["parent"], parent),
        ["parent"],
        "上级编码必须是本编码去掉末三位。",
        "Parent must be the code without its last three digits.",
    )


def test_place_level_matches_the_code() -> None:
    assert_error(
        doc_of("place", level="grid"),
        ["level"],
        "级别与地区编码位数不符。",
        "Level does not match the code's length.",
    )


def test_a_place_lives_in_its_own_subtree() -> None:
    assert_error(
        doc_of("place", place=TOWNSHIP),
        ["place"],
        "地区记录的 place 必须等于 code。",
        "A place record's place must equal its code.",
    )


def test_place_needs_a_chinese_name() -> None:
    assert_error(with_value(example("place"), ["name_zh"], DELETE), ["name_zh"], *REQUIRED)


def test_place_code_must_be_a_code() -> None:
    assert_error(
        doc_of("place", code="来凤县"),
        ["code"],
        "地区编码须为 6、9、12 或 15 位数字。",
        "Place code must be 6, 9, 12 or 15 digits.",
    )


# -- team ---------------------------------------------------------------------------------


def test_the_zhang_fuqing_vanguard_team_validates() -> None:
    doc = example("team")
    assert doc["name"].startswith("张富清先锋队")
    assert validate_document(doc) == doc


@pytest.mark.parametrize(("place", "level"), [(VILLAGE, "township"), (GRID, "village")])
def test_team_level_matches_its_place(place: str, level: str) -> None:
    assert_error(
        doc_of("team", place=place, level=level),
        ["level"],
        "队伍级别必须与其所在地区（place）的级别一致。",
        "Team level must match the level of its place.",
    )


def test_team_level_is_a_choice() -> None:
    assert_error(
        doc_of("team", level="grid", place=GRID),
        ["level"],
        "取值无效，可选值：county、township、village。",
        "Must be one of: county, township, village.",
    )


def test_team_captain_is_a_user() -> None:
    assert_error(
        doc_of("team", captain="李队长"),
        ["captain"],
        "文档编号须为“类型:ULID”格式，如 patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D。",
        "Document id must be 'type:ULID', e.g. patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D.",
    )


def test_team_member_count_is_not_negative() -> None:
    assert_error(
        doc_of("team", member_count=-1),
        ["member_count"],
        "不能小于 0。",
        "Must be greater than or equal to 0.",
    )


# -- station ------------------------------------------------------------------------------


def test_the_station_validates() -> None:
    doc = example("station")
    assert validate_document(doc) == doc


def test_station_grids_lie_within_its_place() -> None:
    grids = [GRID, "422827100202001"]
    assert_error(
        doc_of("station", grids=grids),
        ["grids", 1],
        "网格不在本站点的地区范围内。",
        "Grid is outside the station's place.",
    )


def test_station_grids_are_grid_codes() -> None:
    assert_error(
        doc_of("station", grids=[VILLAGE]),
        ["grids", 0],
        "地区编码须为网格级。",
        "Place code must be at grid level.",
    )


def test_station_grids_are_unique() -> None:
    assert_error(
        doc_of("station", grids=[GRID, GRID]),
        ["grids"],
        "列表中有重复项。",
        "Items must be unique.",
    )


def test_station_kind_is_a_choice() -> None:
    assert_error(
        doc_of("station", kind="hub"),
        ["kind"],
        "取值无效，可选值：station、post。",
        "Must be one of: station, post.",
    )


# -- user -------------------------------------------------------------------------------


def test_the_volunteer_validates() -> None:
    doc = example("user")
    assert validate_document(doc) == doc


@pytest.mark.parametrize("key", ["password", "password_hash", "Password"])
def test_users_never_carry_passwords(key: str) -> None:
    assert_error(
        doc_of("user", **{key: "pbkdf2:sha256:..."}),
        [key],
        "用户记录会被同步到各设备，不能含有密码；密码只保存在服务器。",
        "User records replicate to devices and must not hold passwords; "
        "passwords live on the server only.",
    )


@pytest.mark.parametrize("username", ["Zhang San", "张三", "z", "ZhangSan"])
def test_username_format(username: str) -> None:
    assert_error(
        doc_of("user", username=username),
        ["username"],
        "用户名须为 2-64 个小写字母、数字或 _ . - 字符。",
        "Username must be 2-64 characters from a-z 0-9 _ . -.",
    )


def test_role_is_a_choice() -> None:
    assert_error(
        doc_of("user", role="captain"),
        ["role"],
        "取值无效，可选值：volunteer、station_lead、county_staff、admin。",
        "Must be one of: volunteer, station_lead, county_staff, admin.",
    )


def test_active_is_a_boolean() -> None:
    assert_error(
        doc_of("user", active="true"),
        ["active"],
        "必须是 true 或 false。",
        "Not a valid boolean: use true or false.",
    )


def test_scope_is_a_place_code() -> None:
    assert_error(
        doc_of("user", scope="翔凤镇"),
        ["scope"],
        "地区编码须为 6、9、12 或 15 位数字。",
        "Place code must be 6, 9, 12 or 15 digits.",
    )


def test_a_user_id_may_be_a_ulid() -> None:
    doc = doc_of("user", _id="user:01J63JF1E0000G40R40M30E209")
    assert validate_document(doc) == doc
