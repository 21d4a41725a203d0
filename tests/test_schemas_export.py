"""The schemas as data (schemas/export.py): complete, labelled, and refusing what the
tablet could not reproduce. Whether the tablet's reading agrees with marshmallow's is
tests/test_validator_parity.py's job."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from marshmallow import fields as mm_fields
from marshmallow import validates_schema

from schemas import validate_document
from schemas.export import EXPORTED_TYPES, describe_schemas, export_json, export_schemas
from schemas.fields import Text
from schemas.messages import MESSAGES
from schemas.patrol import Patrol
from schemas.registry import CURRENT_VERSIONS, schema_for
from schemas.rules import Rule
from schemas.testing import example


def _fields(described: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every field of every exported schema, items of lists included."""
    found = []
    for name, schema in described["schemas"].items():
        for field in schema["fields"]:
            found.append((f"{name}.{field['name']}", field))
            item = field.get("item")
            while item is not None:
                found.append((f"{name}.{field['name']}[]", item))
                item = item.get("item")
    return found


def test_every_type_a_volunteer_records_is_exported_at_its_current_version() -> None:
    described = export_schemas()
    assert set(described["types"]) == set(EXPORTED_TYPES)
    for doc_type, entry in described["types"].items():
        assert entry["version"] == CURRENT_VERSIONS[doc_type]
        schema = described["schemas"][entry["schema"]]
        assert schema["envelope"] == {"doc_type": doc_type, "version": entry["version"]}
        assert [f["name"] for f in schema["fields"]] == [
            field.data_key or attr for attr, field in schema_for(doc_type)._declared_fields.items()
        ]


def test_every_field_and_choice_has_both_labels() -> None:
    for where, field in _fields(export_schemas()):
        if "zh" in field or "en" in field:
            assert field["zh"].strip() and field["en"].strip(), where
        for choice in field.get("choices", ()):
            assert choice["zh"].strip() and choice["en"].strip(), (where, choice["value"])


def test_every_message_a_field_or_rule_can_give_is_in_the_catalogue() -> None:
    described = export_schemas()
    assert described["messages"] == {key: list(pair) for key, pair in MESSAGES.items()}
    for where, field in _fields(described):
        if "message" in field:
            assert field["message"] in MESSAGES, where
        for validator in field["validators"]:
            if "message" in validator:
                assert validator["message"] in MESSAGES, where
    for name, schema in described["schemas"].items():
        for rule in schema.get("rules", ()):
            assert rule["message"] in MESSAGES, (name, rule)


def test_the_export_is_json_and_names_itself_by_digest() -> None:
    body = json.loads(export_json())
    assert body == json.loads(json.dumps(export_schemas()))
    assert len(body["digest"]) == 16
    assert body["format"] == 1


def test_personal_and_server_owned_fields_are_marked() -> None:
    home_visit = export_schemas()["schemas"]["HomeVisit"]
    marks = {f["name"]: (f["personal"], f["server_owned"]) for f in home_visit["fields"]}
    assert marks["needs"] == (True, False)
    assert marks["server_received_at"] == (False, True)


def test_a_rule_added_in_schemas_appears_in_the_export() -> None:
    extra: Rule = {
        "rule": "within",
        "field": "ended_at",
        "of": "started_at",
        "seconds": 3600,
        "message": "patrol_too_long",
    }

    class SmallPatrol(Patrol):
        rules: ClassVar[tuple[Rule, ...]] = (extra,)

    described = describe_schemas(SmallPatrol)["SmallPatrol"]
    assert described["rules"][-1] == extra
    assert described["rules"][:-1] == [dict(rule) for rule in Patrol.all_rules]


def test_a_python_only_hook_is_refused_not_skipped() -> None:
    class HookedPatrol(Patrol):
        @validates_schema
        def _no_sundays(self, data: dict[str, Any], **kwargs: Any) -> None:
            pass

    with pytest.raises(ValueError, match="Python only"):
        describe_schemas(HookedPatrol)


def test_a_field_kind_the_tablet_does_not_know_is_refused() -> None:
    class UuidPatrol(Patrol):
        zone = mm_fields.UUID()

    with pytest.raises(ValueError, match="field kind UUID"):
        describe_schemas(UuidPatrol)


def test_an_unlabelled_field_is_refused() -> None:
    class NotedPatrol(Patrol):
        unlabelled_note = Text(max_length=10)

    with pytest.raises(ValueError, match="unlabelled_note has no label"):
        describe_schemas(NotedPatrol)


def test_bounds_are_exported_with_the_numbers_the_messages_print() -> None:
    location = export_schemas()["schemas"]["Location"]
    lat = next(f for f in location["fields"] if f["name"] == "lat")
    assert {
        "check": "range",
        "min": -90,
        "max": 90,
        "min_exclusive": False,
        "params": {"min": "-90", "max": "90"},
    } in lat["validators"]
    assert validate_document(example("patrol"))  # the export describes what validates
