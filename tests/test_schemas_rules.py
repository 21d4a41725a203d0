"""Cross-field rules are data (`schemas/rules.py`): declared on the schemas, checked
when a schema is defined, interpreted by one piece of code. The tablet's validator will
read the same declarations, so a field record's rules must all be data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from marshmallow import Schema, fields
from marshmallow.decorators import VALIDATES_SCHEMA

from schemas import validate_document
from schemas.envelope import FieldRecordEnvelope
from schemas.fields import AwareDateTime, Int, RuledSchema
from schemas.registry import CURRENT_VERSIONS, schema_for
from schemas.rules import check_rules
from schemas.testing import assert_error, example

FIELD_RECORD_TYPES = ("patrol", "water_source", "home_visit", "household")
# The envelope's own check (the document's type, id prefix and version: set by the app,
# never typed by a volunteer) is the one Python hook a field record keeps.
STRUCTURAL_HOOKS = {"_check_envelope"}


def _schemas_within(schema: type[Schema]) -> Iterator[type[Schema]]:
    yield schema
    for field in schema._declared_fields.values():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            yield from _schemas_within(type(inner.schema))


@pytest.mark.parametrize("doc_type", FIELD_RECORD_TYPES)
def test_a_field_records_cross_field_rules_are_all_data(doc_type: str) -> None:
    record = schema_for(doc_type)
    assert issubclass(record, FieldRecordEnvelope)
    for schema in _schemas_within(record):
        hooks = {name for name, _, _ in schema._hooks[VALIDATES_SCHEMA]}
        python_hooks = hooks - {"_check_rules"} - STRUCTURAL_HOOKS
        assert not python_hooks, f"{schema.__name__}: {python_hooks} should be declared rules"
        if issubclass(schema, RuledSchema):
            assert json.loads(json.dumps(schema.all_rules)) == list(map(dict, schema.all_rules)), (
                f"{schema.__name__}: rules must be plain JSON"
            )


def test_every_field_record_has_rules_and_inherits_the_envelopes() -> None:
    envelope_rules = FieldRecordEnvelope.all_rules
    assert envelope_rules, "updated_at after created_at is an envelope rule"
    for doc_type in FIELD_RECORD_TYPES:
        schema = schema_for(doc_type)
        assert schema.all_rules[: len(envelope_rules)] == envelope_rules
    assert len(schema_for("patrol").all_rules) > len(envelope_rules)


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"rule": "later_than", "field": "a", "than": "b", "message": "time_order"}, "unknown"),
        ({"rule": "at_least", "field": "a", "message": "time_order"}, "needs ['than']"),
        ({"rule": "at_least", "field": "a", "than": "b", "message": "no_such"}, "no known"),
    ],
)
def test_a_rule_that_cannot_be_interpreted_is_refused_when_declared(
    rule: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):

        class Broken(RuledSchema):
            a = Int()
            b = Int()
            rules = (rule,)


def test_a_rule_declared_as_data_takes_effect_with_no_code() -> None:
    class Shift(RuledSchema):
        began = AwareDateTime(required=True)
        ended = AwareDateTime(allow_none=True)
        rules = ({"rule": "at_least", "field": "ended", "than": "began", "message": "time_order"},)

    assert Shift().validate({"began": "2024-08-25T08:00:00+08:00", "ended": None}) == {}
    errors = Shift().validate(
        {"began": "2024-08-25T08:00:00+08:00", "ended": "2024-08-25T07:59:59+08:00"}
    )
    assert list(errors) == ["ended"] and "不能早于" in errors["ended"][0]


def test_a_field_gets_the_first_failing_rules_message_only() -> None:
    # Ended a day and a second before it started: before its start, not "too long".
    doc = example("patrol")
    doc["ended_at"] = "2024-08-24T13:59:59+08:00"
    doc["started_at"] = "2024-08-25T14:00:00+08:00"
    assert_error(
        doc,
        ["ended_at"],
        "结束时间不能早于开始时间。",
        "ended_at must not be earlier than started_at.",
    )
    with pytest.raises(Exception) as refused:
        validate_document(doc)
    assert "24" not in str(refused.value)


def test_nested_paths_and_item_paths_are_where_the_message_goes() -> None:
    data = {
        "size": 5,
        "members": [{"birth_year": 1950}, {"birth_year": 2031}],
        "created_at": _Dated(2024),
    }
    rules = (
        {
            "rule": "each_at_most",
            "field": "members",
            "item": "birth_year",
            "than": "created_at",
            "as": "year",
            "message": "birth_year_future",
        },
    )
    errors = check_rules(rules, data)
    assert list(errors) == ["members"] and list(errors["members"]) == [1]
    assert list(errors["members"][1]) == ["birth_year"]


class _Dated:
    def __init__(self, year: int) -> None:
        self.year = year


def test_every_current_type_still_validates_its_example() -> None:
    for doc_type in CURRENT_VERSIONS:
        if doc_type in FIELD_RECORD_TYPES:
            assert validate_document(example(doc_type))
