"""Patrols and water-source finds."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import validate_document
from schemas.testing import DELETE, assert_error, example, with_value

REQUIRED = ("缺少必填字段。", "Missing data for required field.")
NOT_LIST = ("必须是列表。", "Not a valid list.")
NOT_INTEGER = ("必须是整数。", "Not a valid integer.")
NOT_NUMBER = ("必须是数字。", "Not a valid number.")
AT_LEAST_ZERO = ("不能小于 0。", "Must be greater than or equal to 0.")
INVALID_DATE = ("日期无效，应为 YYYY-MM-DD 格式。", "Not a valid date: expected YYYY-MM-DD.")


def patrol(**changes: Any) -> dict[str, Any]:
    doc = example("patrol")
    doc.update(changes)
    return doc


def water(**changes: Any) -> dict[str, Any]:
    doc = example("water_source")
    doc.update(changes)
    return doc


# -- patrol ---------------------------------------------------------------------------


def test_a_patrol_that_foiled_a_fraud_validates() -> None:
    doc = example("patrol")
    fraud = doc["incidents"][0]
    assert fraud["kind"] == "fraud" and "1500 元" in fraud["action_taken"]
    assert validate_document(doc) == doc


def test_a_quiet_patrol_needs_no_incidents_or_track() -> None:
    doc = patrol(incidents=[], track=[])
    del doc["zone"]
    assert validate_document(doc) == doc


def test_participants_are_required() -> None:
    assert_error(
        with_value(example("patrol"), ["participants"], DELETE), ["participants"], *REQUIRED
    )


def test_participants_need_at_least_one() -> None:
    assert_error(
        patrol(participants=[]), ["participants"], "至少需要 1 项。", "At least 1 item(s) required."
    )


def test_participants_are_at_most_a_hundred() -> None:
    many = [f"user:v{index}" for index in range(101)]
    assert_error(
        patrol(participants=many),
        ["participants"],
        "最多允许 100 项。",
        "At most 100 item(s) allowed.",
    )


def test_participants_are_unique() -> None:
    assert_error(
        patrol(participants=["user:zhangsan", "user:zhangsan"]),
        ["participants"],
        "列表中有重复项。",
        "Items must be unique.",
    )


def test_participants_are_user_ids() -> None:
    assert_error(
        patrol(participants=["user:zhangsan", "张三"]),
        ["participants", 1],
        "文档编号须为“类型:ULID”格式，如 patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D。",
        "Document id must be 'type:ULID', e.g. patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D.",
    )


def test_participants_are_a_list() -> None:
    assert_error(patrol(participants="user:zhangsan、user:lisi"), ["participants"], *NOT_LIST)


def test_patrol_may_not_end_before_it_starts() -> None:
    assert_error(
        patrol(ended_at="2024-08-25T13:59:59+08:00"),
        ["ended_at"],
        "结束时间不能早于开始时间。",
        "ended_at must not be earlier than started_at.",
    )


def test_patrol_lasts_at_most_24_hours() -> None:
    assert validate_document(patrol(ended_at="2024-08-26T14:00:00+08:00"))
    assert_error(
        patrol(ended_at="2024-08-26T14:00:01+08:00", updated_at="2024-08-26T15:00:00+08:00"),
        ["ended_at"],
        "一次巡逻不能超过 24 小时。",
        "A patrol must not last more than 24 hours.",
    )


def test_started_at_is_required() -> None:
    assert_error(with_value(example("patrol"), ["started_at"], DELETE), ["started_at"], *REQUIRED)


def test_track_points_need_a_time() -> None:
    doc = with_value(example("patrol"), ["track", 1, "at"], DELETE)
    assert_error(doc, ["track", 1, "at"], *REQUIRED)


def test_track_points_have_valid_coordinates() -> None:
    doc = with_value(example("patrol"), ["track", 0, "lat"], 95)
    assert_error(doc, ["track", 0, "lat"], "不能大于 90。", "Must be less than or equal to 90.")


def test_incident_kind_is_a_choice() -> None:
    doc = with_value(example("patrol"), ["incidents", 0, "kind"], "scam")
    assert_error(
        doc,
        ["incidents", 0, "kind"],
        "取值无效，可选值：safety_hazard、fraud、dispute、fire、flood、sanitation、traffic、other。",
        "Must be one of: safety_hazard, fraud, dispute, fire, flood, sanitation, traffic, other.",
    )


def test_incident_referral_is_a_choice() -> None:
    doc = with_value(example("patrol"), ["incidents", 0, "referred_to"], "公安")
    assert_error(
        doc,
        ["incidents", 0, "referred_to"],
        "取值无效，可选值：police、township、clinic、fire_brigade、other。",
        "Must be one of: police, township, clinic, fire_brigade, other.",
    )


def test_incident_resolved_is_a_boolean() -> None:
    doc = with_value(example("patrol"), ["incidents", 0, "resolved"], "yes")
    assert_error(
        doc,
        ["incidents", 0, "resolved"],
        "必须是 true 或 false。",
        "Not a valid boolean: use true or false.",
    )


@pytest.mark.parametrize("key", ["kind", "description", "resolved"])
def test_incident_required_fields(key: str) -> None:
    doc = with_value(example("patrol"), ["incidents", 1, key], DELETE)
    assert_error(doc, ["incidents", 1, key], *REQUIRED)


@pytest.mark.parametrize(
    ("key", "previous", "value"),
    [
        ("contact_known_at", "reported_at", "2024-08-25T15:01:59+08:00"),
        ("reached_at", "contact_known_at", "2024-08-25T15:02:39+08:00"),
        ("on_site_at", "reached_at", "2024-08-25T15:04:00+08:00"),
    ],
)
def test_response_times_follow_the_1310_sequence(key: str, previous: str, value: str) -> None:
    doc = with_value(example("patrol"), ["incidents", 0, key], value)
    assert_error(
        doc,
        ["incidents", 0, key],
        f"{key} 不能早于 {previous}。",
        f"{key} must not be earlier than {previous}.",
    )


def test_response_times_skip_the_ones_not_recorded() -> None:
    doc = example("patrol")
    incident = doc["incidents"][0]
    incident["contact_known_at"] = incident["reached_at"] = None
    assert validate_document(doc) == doc
    incident["on_site_at"] = "2024-08-25T15:00:00+08:00"
    assert_error(
        doc,
        ["incidents", 0, "on_site_at"],
        "on_site_at 不能早于 reported_at。",
        "on_site_at must not be earlier than reported_at.",
    )


def test_incidents_are_a_list_of_objects() -> None:
    assert_error(
        patrol(incidents=["fraud"]),
        ["incidents", 0, "_schema"],
        "必须是 JSON 对象。",
        "Invalid input type: must be a JSON object.",
    )


# -- water source ---------------------------------------------------------------------


def test_the_valley_spring_validates() -> None:
    doc = example("water_source")
    assert (doc["households_served"], doc["people_served"], doc["pipe_length_m"]) == (20, 100, 320)
    assert validate_document(doc) == doc


def test_a_new_find_needs_only_the_basics() -> None:
    doc = example("water_source")
    for key in ("estimated_flow_l_min", "distance_km", "terrain", "quality", "pipe_length_m",
                "households_served", "people_served"):  # fmt: skip
        del doc[key]
    doc["status"] = "found"
    assert validate_document(doc) == doc


def test_location_is_required_for_water_sources() -> None:
    assert_error(with_value(example("water_source"), ["location"], DELETE), ["location"], *REQUIRED)
    assert_error(
        water(location=None), ["location"], "此字段不能为 null。", "Field may not be null."
    )


def test_water_kind_is_a_choice() -> None:
    assert_error(
        water(kind="泉水"),
        ["kind"],
        "取值无效，可选值：spring、well、stream、pond、reservoir、other。",
        "Must be one of: spring, well, stream, pond, reservoir, other.",
    )


def test_water_status_is_a_choice() -> None:
    assert_error(
        water(status="used"),
        ["status"],
        "取值无效，可选值：found、assessed、piped、in_use、dry、abandoned。",
        "Must be one of: found, assessed, piped, in_use, dry, abandoned.",
    )


@pytest.mark.parametrize(
    "key",
    ["estimated_flow_l_min", "distance_km", "pipe_length_m", "households_served", "people_served"],
)
def test_quantities_are_not_negative(key: str) -> None:
    assert_error(water(**{key: -1}), [key], *AT_LEAST_ZERO)


@pytest.mark.parametrize("value", [20.5, "20", True])
def test_households_served_is_an_integer(value: Any) -> None:
    assert_error(water(households_served=value), ["households_served"], *NOT_INTEGER)


def test_people_served_is_at_least_households_served() -> None:
    assert_error(
        water(households_served=20, people_served=19),
        ["people_served"],
        "受益人数不能少于受益户数。",
        "people_served must not be less than households_served.",
    )


def test_people_alone_need_no_households() -> None:
    doc = water(households_served=None, people_served=3)
    assert validate_document(doc) == doc


@pytest.mark.parametrize("status", ["piped", "in_use"])
@pytest.mark.parametrize("missing", [DELETE, None])
def test_pipe_length_required_once_piped(status: str, missing: Any) -> None:
    doc = with_value(water(status=status), ["pipe_length_m"], missing)
    assert_error(
        doc,
        ["pipe_length_m"],
        "状态为已通管（piped）或使用中（in_use）时必须填写管道长度。",
        "pipe_length_m is required when status is piped or in_use.",
    )


@pytest.mark.parametrize(
    "value", ["2024-8-25", "2024-02-30", "2024-08-25T00:00:00+08:00", 20240825]
)
def test_found_on_is_a_date(value: Any) -> None:
    assert_error(water(found_on=value), ["found_on"], *INVALID_DATE)


def test_water_test_value_is_a_number() -> None:
    doc = with_value(example("water_source"), ["quality", "tests", 0, "value"], "7.2")
    assert_error(doc, ["quality", "tests", 0, "value"], *NOT_NUMBER)


def test_water_test_needs_a_parameter() -> None:
    doc = with_value(example("water_source"), ["quality", "tests", 1, "parameter"], DELETE)
    assert_error(doc, ["quality", "tests", 1, "parameter"], *REQUIRED)


def test_photos_are_attachments_not_fields() -> None:
    assert_error(water(photos=["spring.jpg"]), ["photos"], "未知字段。", "Unknown field.")
