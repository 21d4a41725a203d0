"""The registry: dispatch by type and version, upgrades, document-level errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas import (
    CURRENT_VERSIONS,
    DOC_TYPES,
    DocumentInvalid,
    schema_for,
    split_message,
    upgrade,
    validate_document,
)
from schemas.registry import REGISTRY, VersionEntry
from schemas.testing import DELETE, assert_error, example, example_v1, with_value

REQUIRED = ("缺少必填字段。", "Missing data for required field.")


def test_current_versions() -> None:
    assert dict(CURRENT_VERSIONS) == {
        "patrol": 2,
        "water_source": 1,
        "home_visit": 2,
        "household": 1,
        "place": 1,
        "team": 1,
        "station": 1,
        "user": 1,
        "rejection_notice": 1,
    }


def test_every_version_below_current_has_an_upgrade() -> None:
    for doc_type, current in CURRENT_VERSIONS.items():
        for version in range(1, current):
            assert REGISTRY[(doc_type, version)].upgrade is not None
        assert REGISTRY[(doc_type, current)].schema is schema_for(doc_type)
        assert schema_for(doc_type).version == current


# -- non-documents ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, [], "patrol", 42, b"{}", ["type", "patrol"]])
def test_non_objects_are_refused(bad: Any) -> None:
    with pytest.raises(DocumentInvalid) as caught:
        validate_document(bad)
    assert caught.value.errors == {
        "_schema": ["必须是 JSON 对象。 / Invalid input type: must be a JSON object."]
    }
    with pytest.raises(ValueError):
        upgrade(bad)


def test_type_is_required() -> None:
    assert_error(with_value(example("patrol"), ["type"], DELETE), ["type"], *REQUIRED)


@pytest.mark.parametrize("doc_type", ["visit", "Patrol", 3, ["patrol"]])
def test_unknown_types_are_refused(doc_type: Any) -> None:
    assert_error(
        with_value(example("patrol"), ["type"], doc_type),
        ["type"],
        "未知的记录类型；已知类型：patrol, water_source, home_visit, household, place, team, "
        "station, user, rejection_notice。",
        "Unknown document type; known types: patrol, water_source, home_visit, household, "
        "place, team, station, user, rejection_notice.",
    )


def test_schema_version_is_required() -> None:
    assert_error(
        with_value(example("patrol"), ["schema_version"], DELETE), ["schema_version"], *REQUIRED
    )


@pytest.mark.parametrize("version", [0, -1, "2", 2.0, True])
def test_schema_version_is_a_positive_integer(version: Any) -> None:
    assert_error(
        with_value(example("patrol"), ["schema_version"], version),
        ["schema_version"],
        "schema_version 须为正整数。",
        "schema_version must be a positive integer.",
    )


def test_a_version_newer_than_the_code_is_refused() -> None:
    doc = with_value(example("patrol"), ["schema_version"], 3)
    assert_error(
        doc,
        ["schema_version"],
        "schema_version 3 比本程序支持的最新版本 2 更新，请升级应用。",
        "schema_version 3 is newer than the newest supported (2); update the app.",
    )
    with pytest.raises(DocumentInvalid):
        upgrade(doc)


# -- upgrades ---------------------------------------------------------------------


@pytest.mark.parametrize("doc_type", ["patrol", "home_visit"])
def test_v1_documents_upgrade_to_the_current_example(doc_type: str) -> None:
    old = example_v1(doc_type)
    upgraded = upgrade(old)
    assert upgraded == example(doc_type)
    assert validate_document(old) == example(doc_type)


@pytest.mark.parametrize("doc_type", ["patrol", "home_visit"])
def test_upgrade_does_not_mutate_its_input(doc_type: str) -> None:
    old = example_v1(doc_type)
    old["_rev"] = "1-abc"
    before = copy.deepcopy(old)
    upgraded = upgrade(old)
    validate_document(old)
    assert old == before
    nested = {"patrol": "incidents", "home_visit": "needs"}[doc_type]
    upgraded[nested][0]["description"] = "changed"
    assert old == before


def test_upgrading_a_current_document_returns_an_unshared_copy() -> None:
    doc = example("home_visit")
    upgraded = upgrade(doc)
    assert upgraded == doc and upgraded is not doc
    assert upgraded["needs"][0] is not doc["needs"][0]


def test_patrol_v1_participants_split_on_commas_and_enumeration_marks() -> None:
    old = example_v1("patrol")
    old["participants"] = " user:zhangsan , lisi，wangfang、 "
    assert upgrade(old)["participants"] == ["user:zhangsan", "user:lisi", "user:wangfang"]


def test_patrol_v1_stored_with_its_revision_validates() -> None:
    old = example_v1("patrol")
    old["_rev"] = "4-0f2d"
    cleaned = validate_document(old)
    assert cleaned["_rev"] == "4-0f2d"
    assert cleaned["schema_version"] == 2
    assert "start" not in cleaned and cleaned["started_at"] == old["start"]


def test_home_visit_v1_services_split_into_a_list() -> None:
    old = example_v1("home_visit")
    old["services"] = "haircut,cleaning"
    upgraded = upgrade(old)
    assert upgraded["services"] == ["haircut", "cleaning"]
    assert upgraded["visited_at"] == old["visit_time"]
    assert "visit_time" not in upgraded


def test_errors_in_an_upgraded_document_name_current_fields() -> None:
    old = example_v1("home_visit")
    old["services"] = "haircut, massage"
    assert_error(
        old,
        ["services", 1],
        "取值无效，可选值：haircut、cleaning、medicine、health_check、temperature、"
        "policy_explanation、legal_aid、paperwork、other。",
        "Must be one of: haircut, cleaning, medicine, health_check, temperature, "
        "policy_explanation, legal_aid, paperwork, other.",
    )


def test_an_unrecognised_v1_shape_is_left_for_the_schema_to_report() -> None:
    old = example_v1("patrol")
    old["participants"] = 7
    assert_error(old, ["participants"], "必须是列表。", "Not a valid list.")


def test_v1_with_both_old_and_new_names_keeps_the_new_and_reports_the_old() -> None:
    old = example_v1("patrol")
    old["started_at"] = old["start"]
    assert_error(old, ["start"], "未知字段。", "Unknown field.")


def test_a_missing_upgrade_step_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, ("patrol", 1), VersionEntry(None, None))
    assert_error(
        example_v1("patrol"),
        ["schema_version"],
        "没有从版本 1 升级的方法。",
        "No upgrade is known from version 1.",
    )


@pytest.mark.parametrize("doc_type", ["water_source", "household", "place", "team", "station"])
def test_types_at_version_one_upgrade_to_themselves(doc_type: str) -> None:
    assert upgrade(example(doc_type)) == example(doc_type)


# -- DocumentInvalid --------------------------------------------------------------


def test_document_invalid_counts_every_error_and_names_the_first() -> None:
    doc = example("patrol")
    del doc["author"]
    doc["device"] = "平板"
    with pytest.raises(DocumentInvalid) as caught:
        validate_document(doc)
    error = caught.value
    assert set(error.errors) == {"author", "device"}
    assert error.reason == (
        "记录未通过校验（共 2 处错误），首个错误：author：缺少必填字段。 / "
        "Document invalid (2 error(s)); first: author: Missing data for required field."
    )


def test_document_invalid_reason_gives_nested_paths() -> None:
    doc = with_value(example("patrol"), ["incidents", 0, "kind"], "scam")
    with pytest.raises(DocumentInvalid) as caught:
        validate_document(doc)
    assert "首个错误：incidents.0.kind：" in caught.value.reason
    assert "first: incidents.0.kind: Must be one of:" in caught.value.reason


@pytest.mark.parametrize("doc_type", DOC_TYPES)
def test_validated_documents_are_new_objects(doc_type: str) -> None:
    doc = example(doc_type)
    cleaned = validate_document(doc)
    assert cleaned is not doc
    if "location" in doc:
        assert cleaned["location"] is not doc["location"]


def test_an_unknown_fields_name_is_never_echoed_verbatim() -> None:
    """Found in CI by the random-JSON test: a Chinese or newline field name landed in the
    English half of the reason (and would in a rejection notice)."""
    for name in ("㐀", "\n", "耙鎲ⅰ"):
        doc = example("home_visit")
        doc["health"] = {name: None}
        with pytest.raises(DocumentInvalid) as caught:
            validate_document(doc)
        english = split_message(caught.value.reason)["en"]
        assert name not in english and ascii(name) in english
