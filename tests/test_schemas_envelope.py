"""The envelope every document shares, and the shared field types, checked
through real documents so each error carries its field path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import (
    DOC_TYPES,
    DocumentInvalid,
    personal_fields,
    schema_for,
    server_owned_fields,
    validate_document,
)
from schemas.testing import DELETE, assert_error, example, with_value

REQUIRED = ("缺少必填字段。", "Missing data for required field.")
NULL = ("此字段不能为 null。", "Field may not be null.")
UNKNOWN = ("未知字段。", "Unknown field.")
NOT_STRING = ("必须是字符串。", "Not a valid string.")
BAD_DATETIME = (
    "时间无效，应为带时区的 ISO 8601 格式，如 2024-08-25T09:30:00+08:00。",
    "Not a valid ISO 8601 date-time, e.g. 2024-08-25T09:30:00+08:00.",
)
NAIVE = (
    "缺少时区：时间必须带 UTC 偏移，如 +08:00。",
    "Time zone missing: the time must carry a UTC offset such as +08:00.",
)
SURROGATE = (
    "文本含有无效的 Unicode 代理字符（编码已损坏）。",
    "Text contains unpaired Unicode surrogates (broken encoding).",
)


def patrol(**changes: Any) -> dict[str, Any]:
    doc = example("patrol")
    doc.update(changes)
    return doc


# -- valid documents ------------------------------------------------------------


@pytest.mark.parametrize("doc_type", DOC_TYPES)
def test_examples_validate_and_round_trip(doc_type: str) -> None:
    doc = example(doc_type)
    cleaned = validate_document(doc)
    assert cleaned == doc
    assert validate_document(json.loads(json.dumps(cleaned, ensure_ascii=False))) == cleaned


def test_cleaning_normalises_times_and_is_idempotent() -> None:
    doc = patrol(created_at="2024-08-25T01:30:00Z", updated_at="2024-08-25T18:30:00.000+08:00")
    cleaned = validate_document(doc)
    assert cleaned["created_at"] == "2024-08-25T01:30:00+00:00"
    assert cleaned["updated_at"] == "2024-08-25T18:30:00+08:00"
    assert validate_document(cleaned) == cleaned


def test_optional_fields_may_be_absent_or_null() -> None:
    doc = patrol(team=None, location=None, zone=None, incidents=None, track=None)
    assert validate_document(doc) == doc
    for key in ("team", "location", "zone", "incidents", "track"):
        del doc[key]
    assert validate_document(doc) == doc


# -- CouchDB special members -------------------------------------------------


def test_stored_document_with_special_members_validates_unchanged() -> None:
    doc = example("water_source")
    doc.update(
        _rev="3-917fa2381192822767f010b95b45325b",
        _attachments={"spring.jpg": {"content_type": "image/jpeg", "stub": True, "revpos": 2}},
        _revisions={"start": 3, "ids": ["917fa238", "a1", "b2"]},
        _conflicts=["2-abc"],
        _deleted_conflicts=["2-def"],
        _local_seq=12,
    )
    cleaned = validate_document(doc)
    assert cleaned == doc
    assert cleaned["_attachments"] is not doc["_attachments"]


def test_a_tombstone_is_returned_unchanged() -> None:
    tombstone = {"_id": example("patrol")["_id"], "_rev": "2-abc", "_deleted": True}
    assert validate_document(tombstone) == tombstone


def test_a_tombstone_still_needs_a_sound_id() -> None:
    bad = {"_id": "patrol:a/b", "_rev": "2-abc", "_deleted": True}
    assert_error(bad, ["_id"], "文档编号不能含有“/”。", "Document id must not contain '/'.")


def test_unknown_underscore_member_is_refused() -> None:
    assert_error(patrol(_secret=1), ["_secret"], *UNKNOWN)


def test_unknown_field_is_refused() -> None:
    assert_error(patrol(colour="red"), ["colour"], *UNKNOWN)


def test_unknown_field_in_a_nested_object_is_refused() -> None:
    doc = with_value(example("patrol"), ["location", "speed"], 3)
    assert_error(doc, ["location", "speed"], *UNKNOWN)


# -- _id and type -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc_id", "zh", "en"),
    [
        (DELETE, *REQUIRED),
        ("", "文档编号不能为空。", "Document id must not be empty."),
        (
            "patrol:01J63JF1E0000G40R40M30E209/x",
            "文档编号不能含有“/”。",
            "Document id must not contain '/'.",
        ),
        (
            "_patrol:01J63JF1E0000G40R40M30E209",
            "文档编号不能以“_”开头。",
            "Document id must not start with '_'.",
        ),
        (
            "patrol:" + "巡" * 200,
            "文档编号不能超过 512 字节（UTF-8）。",
            "Document id must be at most 512 bytes of UTF-8.",
        ),
        (
            "patrol:\x01",
            "文档编号不能含有控制字符。",
            "Document id must not contain control characters.",
        ),
        ("patrol:\udcff", *SURROGATE),
        (12345, *NOT_STRING),
    ],
)
def test_bad_ids(doc_id: Any, zh: str, en: str) -> None:
    assert_error(with_value(example("patrol"), ["_id"], doc_id), ["_id"], zh, en)


def test_id_prefix_must_match_type() -> None:
    doc = patrol(_id="home_visit:01J63JF1E0000G40R40M30E209")
    assert_error(
        doc, ["_id"], "_id 的类型前缀必须与 type 一致。", "The type prefix of _id must match type."
    )


def test_schema_refuses_a_document_of_another_type() -> None:
    errors = schema_for("patrol")().validate(patrol(type="home_visit"))
    assert "type 必须是 patrol。 / type must be patrol." in errors["type"]


def test_schema_refuses_another_schema_version() -> None:
    doc = patrol(schema_version=1)
    errors = schema_for("patrol")().validate(doc)
    assert errors["schema_version"] == ["schema_version 必须是 2。 / schema_version must be 2."]


# -- place, station, team, author, device -------------------------------------------


@pytest.mark.parametrize("place", ["42282", "4228271002010031", "42282a100201", 422827100201])
def test_place_code_format(place: Any) -> None:
    assert_error(
        patrol(place=place),
        ["place"],
        "地区编码须为 6、9、12 或 15 位数字。",
        "Place code must be 6, 9, 12 or 15 digits.",
    )


@pytest.mark.parametrize("doc_type", ["patrol", "water_source", "home_visit", "household"])
@pytest.mark.parametrize("place", ["422827", "422827100"])
def test_field_records_sit_at_village_or_grid_level(doc_type: str, place: str) -> None:
    doc = example(doc_type)
    doc["place"] = place
    assert_error(
        doc,
        ["place"],
        "地区编码须为村/社区或网格级。",
        "Place code must be at village or grid level.",
    )


def test_field_records_need_a_station() -> None:
    assert_error(with_value(example("patrol"), ["station"], DELETE), ["station"], *REQUIRED)


@pytest.mark.parametrize("doc_type", ["place", "team", "station", "user"])
def test_reference_data_need_no_station(doc_type: str) -> None:
    doc = example(doc_type)
    assert "station" not in doc
    assert validate_document(doc) == doc


def test_station_must_be_a_station_id() -> None:
    assert_error(
        patrol(station="team:zhangfuqing-xiangfeng"),
        ["station"],
        "此处须为 station 类型的文档编号。",
        "Must be a station document id.",
    )


def test_author_must_be_a_user_id() -> None:
    assert_error(
        patrol(author="station:xiangfeng-01"),
        ["author"],
        "此处须为 user 类型的文档编号。",
        "Must be a user document id.",
    )


def test_author_may_not_be_null() -> None:
    assert_error(patrol(author=None), ["author"], *NULL)


@pytest.mark.parametrize("device", ["平板 7", "tab let", "x" * 65, "tablet/7"])
def test_device_id_format(device: str) -> None:
    assert_error(
        patrol(device=device),
        ["device"],
        "设备编号须为 1-64 个字母、数字或 _ . : - 字符。",
        "Device id must be 1-64 characters from A-Z a-z 0-9 _ . : -.",
    )


def test_device_may_not_be_blank() -> None:
    assert_error(patrol(device=""), ["device"], "不能为空白。", "Must not be blank.")


# -- times ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2024-08-25T09:30:00", "2024-08-25 09:30"])
def test_naive_times_are_refused_because_the_zone_is_missing(value: str) -> None:
    assert_error(patrol(created_at=value), ["created_at"], *NAIVE)


@pytest.mark.parametrize(
    "value", ["2024-08-25", "25/08/2024 09:30", "2024-02-30T09:30:00+08:00", "", 1724549400, None]
)
def test_malformed_times_are_refused(value: Any) -> None:
    expected = NULL if value is None else BAD_DATETIME
    assert_error(patrol(created_at=value), ["created_at"], *expected)


def test_updated_at_may_not_precede_created_at() -> None:
    assert_error(
        patrol(updated_at="2024-08-25T09:29:59+08:00"),
        ["updated_at"],
        "updated_at 不能早于 created_at。",
        "updated_at must not be earlier than created_at.",
    )


def test_time_order_compares_instants_across_offsets() -> None:
    # 01:30Z is 09:30+08:00: the same instant, so allowed.
    doc = patrol(updated_at="2024-08-25T01:30:00+00:00")
    assert validate_document(doc)["updated_at"] == "2024-08-25T01:30:00+00:00"


# -- server-owned fields and review --------------------------------------------------


@pytest.mark.parametrize("doc_type", DOC_TYPES)
def test_server_owned_fields_are_declared(doc_type: str) -> None:
    assert server_owned_fields(doc_type) == frozenset({"review", "server_received_at"})
    fields = schema_for(doc_type)._declared_fields
    assert fields["review"].metadata == {"server_owned": True}
    assert not fields["review"].required


def test_personal_fields_are_declared() -> None:
    assert personal_fields("home_visit") == {"vulnerability", "health", "needs", "follow_up"}
    assert personal_fields("household") == {
        "head_of_household",
        "address",
        "members",
        "phone",
        "vulnerability",
    }
    assert personal_fields("user") == {"phone"}
    assert personal_fields("patrol") == frozenset()


REVIEW = {
    "state": "approved",
    "by": "user:county-li",
    "at": "2024-08-27T10:00:00+08:00",
}


def test_a_review_validates() -> None:
    doc = patrol(review=dict(REVIEW), server_received_at="2024-08-26T08:00:00+08:00")
    assert validate_document(doc) == doc


def test_a_pending_review_needs_no_reviewer() -> None:
    doc = patrol(review={"state": "pending"})
    assert validate_document(doc) == doc


@pytest.mark.parametrize("missing", ["by", "at"])
def test_a_decided_review_needs_reviewer_and_time(missing: str) -> None:
    doc = with_value(patrol(review=dict(REVIEW)), ["review", missing], DELETE)
    assert_error(
        doc,
        ["review", missing],
        "已批准或已退回的审核必须填写审核人（by）和时间（at）。",
        "An approved or returned review needs a reviewer (by) and a time (at).",
    )


def test_a_returned_review_needs_a_comment() -> None:
    doc = patrol(review={**REVIEW, "state": "returned"})
    assert_error(
        doc,
        ["review", "comment"],
        "退回记录时必须写明原因，以便志愿者修改。",
        "A returned review needs a comment so the volunteer knows what to fix.",
    )


def test_review_state_is_a_choice() -> None:
    assert_error(
        patrol(review={**REVIEW, "state": "rejected"}),
        ["review", "state"],
        "取值无效，可选值：pending、approved、returned。",
        "Must be one of: pending, approved, returned.",
    )


def test_invalid_document_error_is_a_value_error_with_a_one_line_reason() -> None:
    with pytest.raises(ValueError) as caught:
        validate_document(patrol(updated_at="2024-08-25T09:00:00+08:00"))
    error = caught.value
    assert isinstance(error, DocumentInvalid)
    assert error.reason == (
        "记录未通过校验（共 1 处错误），首个错误：updated_at：updated_at 不能早于 created_at。 / "
        "Document invalid (1 error(s)); first: updated_at: "
        "updated_at must not be earlier than created_at."
    )
    assert str(error) == error.reason
