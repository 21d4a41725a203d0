"""Home visits and households (the two types holding personal data)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import new_doc_id, validate_document
from schemas.home_visit import NEED_STATUSES, SERVICES, URGENCIES
from schemas.household import VULNERABILITIES
from schemas.testing import DELETE, assert_error, example, with_value

REQUIRED = ("缺少必填字段。", "Missing data for required field.")
UNIQUE = ("列表中有重复项。", "Items must be unique.")
VULNERABILITY_CHOICE = (
    "取值无效，可选值：elderly_alone、disabled、left_behind_child、low_income、sick、other。",
    "Must be one of: elderly_alone, disabled, left_behind_child, low_income, sick, other.",
)
BLOOD_PRESSURE = (
    "血压须为“收缩压/舒张压”，如 120/80，收缩压须高于舒张压。",
    "Blood pressure must be 'systolic/diastolic', e.g. 120/80, systolic above diastolic.",
)


def visit(**changes: Any) -> dict[str, Any]:
    doc = example("home_visit")
    doc.update(changes)
    return doc


def household(**changes: Any) -> dict[str, Any]:
    doc = example("household")
    doc.update(changes)
    return doc


# -- home visit -----------------------------------------------------------------------


def test_the_monthly_haircut_visit_validates() -> None:
    doc = example("home_visit")
    assert "haircut" in doc["services"] and "disabled" in doc["vulnerability"]
    assert validate_document(doc) == doc


def test_household_must_be_a_household_id() -> None:
    assert_error(
        visit(household="user:tiandaye"),
        ["household"],
        "此处须为 household 类型的文档编号。",
        "Must be a household document id.",
    )


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        (0, "不能小于 1。", "Must be greater than or equal to 1."),
        (1441, "不能大于 1440。", "Must be less than or equal to 1440."),
        (90.5, "必须是整数。", "Not a valid integer."),
        (DELETE, *REQUIRED),
    ],
)
def test_duration_minutes(value: Any, zh: str, en: str) -> None:
    assert_error(
        with_value(example("home_visit"), ["duration_min"], value), ["duration_min"], zh, en
    )


def test_visited_at_needs_a_time_zone() -> None:
    assert_error(
        visit(visited_at="2024-08-25T09:30:00"),
        ["visited_at"],
        "缺少时区：时间必须带 UTC 偏移，如 +08:00。",
        "Time zone missing: the time must carry a UTC offset such as +08:00.",
    )


def test_volunteers_need_at_least_one() -> None:
    assert_error(
        visit(volunteers=[]), ["volunteers"], "至少需要 1 项。", "At least 1 item(s) required."
    )


def test_volunteers_are_unique() -> None:
    assert_error(visit(volunteers=["user:zhangsan", "user:zhangsan"]), ["volunteers"], *UNIQUE)


def test_vulnerability_is_a_list_of_choices() -> None:
    assert_error(
        visit(vulnerability=["disabled", "孤寡"]), ["vulnerability", 1], *VULNERABILITY_CHOICE
    )
    assert_error(visit(vulnerability=["sick", "sick"]), ["vulnerability"], *UNIQUE)


def test_services_are_choices() -> None:
    assert_error(
        visit(services=["haircut", "massage"]),
        ["services", 1],
        "取值无效，可选值：haircut、cleaning、medicine、health_check、temperature、"
        "policy_explanation、legal_aid、paperwork、other。",
        "Must be one of: haircut, cleaning, medicine, health_check, temperature, "
        "policy_explanation, legal_aid, paperwork, other.",
    )


@pytest.mark.parametrize("services", [DELETE, None, []])
def test_a_visit_gives_a_service_or_reports_a_need(services: Any) -> None:
    doc = with_value(visit(needs=[]), ["services"], services)
    assert_error(
        doc,
        ["services"],
        "至少记录一项服务，或报告至少一项需求。",
        "At least one service is required unless needs are reported.",
    )


def test_a_visit_that_only_reports_needs_is_valid() -> None:
    doc = visit(services=[])
    assert validate_document(doc) == doc


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        (33.9, "不能小于 34。", "Must be greater than or equal to 34."),
        (43.1, "不能大于 43。", "Must be less than or equal to 43."),
    ],
)
def test_body_temperature_range(value: float, zh: str, en: str) -> None:
    doc = with_value(example("home_visit"), ["health", "temperature_c"], value)
    assert_error(doc, ["health", "temperature_c"], zh, en)


@pytest.mark.parametrize("value", ["120-80", "120/", "1200/80", "高压120", "80/120", "90/90"])
def test_blood_pressure_format(value: str) -> None:
    doc = with_value(example("home_visit"), ["health", "blood_pressure"], value)
    assert_error(doc, ["health", "blood_pressure"], *BLOOD_PRESSURE)


def test_need_urgency_and_status_are_choices() -> None:
    doc = with_value(example("home_visit"), ["needs", 0, "urgency"], "asap")
    assert_error(
        doc,
        ["needs", 0, "urgency"],
        "取值无效，可选值：low、normal、high、urgent。",
        "Must be one of: low, normal, high, urgent.",
    )
    doc = with_value(example("home_visit"), ["needs", 0, "status"], "done")
    assert_error(
        doc,
        ["needs", 0, "status"],
        "取值无效，可选值：open、in_progress、met、closed。",
        "Must be one of: open, in_progress, met, closed.",
    )


def test_need_ids_are_unique() -> None:
    need = example("home_visit")["needs"][0]
    assert_error(visit(needs=[need, dict(need)]), ["needs"], "需求编号重复。", "Duplicate need_id.")


def test_need_id_format() -> None:
    doc = with_value(example("home_visit"), ["needs", 0, "need_id"], "需求 1")
    assert_error(
        doc,
        ["needs", 0, "need_id"],
        "编号须为 1-64 个字母、数字或 _ . : - 字符。",
        "Identifier must be 1-64 characters from A-Z a-z 0-9 _ . : -.",
    )


@pytest.mark.parametrize("key", ["need_id", "category", "description", "urgency", "status"])
def test_need_required_fields(key: str) -> None:
    doc = with_value(example("home_visit"), ["needs", 0, key], DELETE)
    assert_error(doc, ["needs", 0, key], *REQUIRED)


def test_follow_up_is_not_before_the_visit() -> None:
    doc = with_value(example("home_visit"), ["follow_up", "due_on"], "2024-08-24")
    assert_error(
        doc,
        ["follow_up", "due_on"],
        "回访日期不能早于走访日期。",
        "due_on must not be before the date of visited_at.",
    )


def test_follow_up_uses_the_visits_local_date() -> None:
    # 00:30 in Beijing is still the 24th in UTC; the volunteer's date is the 25th.
    doc = visit(visited_at="2024-08-25T00:30:00+08:00")
    doc["follow_up"]["due_on"] = "2024-08-25"
    assert validate_document(doc) == doc
    doc["follow_up"]["due_on"] = "2024-08-24"
    assert_error(
        doc,
        ["follow_up", "due_on"],
        "回访日期不能早于走访日期。",
        "due_on must not be before the date of visited_at.",
    )


@pytest.mark.parametrize("key", ["due_on", "assignee"])
def test_follow_up_needs_a_date_and_an_assignee(key: str) -> None:
    doc = with_value(example("home_visit"), ["follow_up", key], DELETE)
    assert_error(doc, ["follow_up", key], *REQUIRED)


# -- household ------------------------------------------------------------------------


def test_the_household_validates() -> None:
    doc = example("household")
    assert validate_document(doc) == doc


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        (0, "不能小于 1。", "Must be greater than or equal to 1."),
        (51, "不能大于 50。", "Must be less than or equal to 50."),
    ],
)
def test_household_size(value: int, zh: str, en: str) -> None:
    assert_error(household(size=value), ["size"], zh, en)


def test_members_cannot_outnumber_the_household() -> None:
    assert_error(
        household(size=1),
        ["members"],
        "登记的成员人数超过了家庭人口数。",
        "More members are listed than the household size.",
    )


def test_birth_year_is_not_after_the_record_was_made() -> None:
    doc = with_value(example("household"), ["members", 1, "birth_year"], 2025)
    assert_error(
        doc,
        ["members", 1, "birth_year"],
        "出生年份不能晚于记录创建年份。",
        "birth_year must not be after the year the record was created.",
    )


def test_birth_year_range() -> None:
    doc = with_value(example("household"), ["members", 0, "birth_year"], 1899)
    assert_error(
        doc,
        ["members", 0, "birth_year"],
        "不能小于 1900。",
        "Must be greater than or equal to 1900.",
    )


def test_member_needs_a_name() -> None:
    doc = with_value(example("household"), ["members", 0, "name"], DELETE)
    assert_error(doc, ["members", 0, "name"], *REQUIRED)


def test_member_vulnerability_is_a_choice() -> None:
    doc = with_value(example("household"), ["members", 0, "vulnerability"], ["paralysed"])
    assert_error(doc, ["members", 0, "vulnerability", 0], *VULNERABILITY_CHOICE)


@pytest.mark.parametrize(
    "phone", ["138-0000-0000", "+8613800000000", "1234", "１３８００００００００"]
)
def test_phone_is_digits(phone: str) -> None:
    assert_error(
        household(phone=phone),
        ["phone"],
        "电话号码须为 5-20 位数字。",
        "Phone number must be 5-20 digits.",
    )


@pytest.mark.parametrize("key", ["household_no", "head_of_household", "address", "size"])
def test_household_required_fields(key: str) -> None:
    assert_error(with_value(example("household"), [key], DELETE), [key], *REQUIRED)


# -- generated home visits ------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"), include_characters="\n\t"
    ),
    min_size=1,
    max_size=40,
).filter(str.strip)
_slug = st.from_regex(r"[a-z0-9_.-]{1,20}", fullmatch=True)
_user = _slug.map(lambda slug: f"user:{slug}")
_offset = st.integers(-12 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
_times = st.datetimes(
    min_value=dt.datetime(2015, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=_offset
)
_place = st.from_regex(r"42282710[0-9]{4}(?:[0-9]{3})?", fullmatch=True)
_need = st.fixed_dictionaries(
    {
        "category": _text,
        "description": _text,
        "urgency": st.sampled_from(URGENCIES),
        "status": st.sampled_from(NEED_STATUSES),
    }
)
_health = st.fixed_dictionaries(
    {},
    optional={
        "temperature_c": st.floats(34, 43) | st.integers(34, 43),
        "blood_pressure": st.tuples(st.integers(60, 250), st.integers(30, 59)).map(
            lambda pair: f"{pair[0]}/{pair[1]}"
        ),
    },
)


@st.composite
def home_visits(draw: st.DrawFn) -> dict[str, Any]:
    created = draw(_times)
    visited = draw(_times)
    doc: dict[str, Any] = {
        "_id": new_doc_id(
            "home_visit",
            draw(st.integers(0, 2**48 - 1)),
            draw(st.binary(min_size=10, max_size=10)),
        ),
        "type": "home_visit",
        "schema_version": 2,
        "place": draw(_place),
        "station": "station:" + draw(_slug),
        "author": draw(_user),
        "device": draw(st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)),
        "created_at": created.isoformat(),
        "updated_at": (
            created + draw(st.timedeltas(dt.timedelta(0), dt.timedelta(days=90)))
        ).isoformat(),
        "household": new_doc_id("household", 0, draw(st.binary(min_size=10, max_size=10))),
        "visited_at": visited.isoformat(),
        "duration_min": draw(st.integers(1, 1440)),
        "volunteers": draw(st.lists(_user, min_size=1, max_size=5, unique=True)),
    }
    needs = draw(st.lists(_need, max_size=3))
    for index, need in enumerate(needs):
        need["need_id"] = f"need-{index}"
    services = draw(st.lists(st.sampled_from(SERVICES), unique=True, min_size=0 if needs else 1))
    optional = {
        "team": st.just("team:" + draw(_slug)),
        "vulnerability": st.lists(st.sampled_from(VULNERABILITIES), unique=True),
        "health": _health,
        "follow_up": st.fixed_dictionaries(
            {
                "due_on": st.integers(0, 365).map(
                    lambda days: (visited.date() + dt.timedelta(days=days)).isoformat()
                ),
                "assignee": _user,
            },
            optional={"note": _text},
        ),
        "location": st.fixed_dictionaries(
            {
                "lat": st.floats(-90, 90),
                "lon": st.floats(-180, 180),
                "accuracy_m": st.floats(0.1, 10000),
            }
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    if needs or draw(st.booleans()):
        doc["needs"] = needs
    if services or draw(st.booleans()):
        doc["services"] = services
    return doc


@settings(max_examples=200, deadline=None)
@given(home_visits())
def test_generated_home_visits_always_validate(doc: dict[str, Any]) -> None:
    cleaned = validate_document(doc)
    assert validate_document(cleaned) == cleaned
    assert cleaned["visited_at"] == doc["visited_at"]
    assert cleaned["volunteers"] == doc["volunteers"]
