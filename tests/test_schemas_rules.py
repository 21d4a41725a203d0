"""Cross-field rules are data (`schemas/rules.py`): declared on the schemas, checked
when a schema is defined, interpreted by one piece of code. The tablet's validator will
read the same declarations, so a field record's rules must all be data."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from marshmallow import Schema, fields
from marshmallow.decorators import VALIDATES_SCHEMA

from schemas import DocumentInvalid, check_entry, validate_document
from schemas.envelope import FieldRecordEnvelope
from schemas.export import export_schemas
from schemas.fields import AwareDateTime, Int, RuledSchema
from schemas.messages import msg
from schemas.registry import schema_for
from schemas.rules import check_rules
from schemas.testing import errors_at, errors_of, example

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
        (
            {"rule": "at_least", "field": "a", "than": "b", "as": "month", "message": "time_order"},
            "reads 'month'",
        ),
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


def test_a_rule_about_a_field_already_failed_adds_nothing() -> None:
    # Ended a day and a second before it started: before its start, not "too long".
    doc = example("patrol")
    doc["ended_at"] = "2024-08-24T13:59:59+08:00"
    doc["started_at"] = "2024-08-25T14:00:00+08:00"
    assert errors_at(doc, ["ended_at"]) == [msg("ended_before_started")]


def test_a_rule_reports_every_item_it_fails_and_a_later_rule_none_of_them() -> None:
    doc = example("household")
    doc["size"] = 5
    doc["members"] = [
        {"name": "甲", "birth_year": 1950},
        {"name": "乙", "birth_year": 2030},
        {"name": "丙", "birth_year": 2031},
    ]
    late = [msg("birth_year_future")]
    assert errors_of(doc) == {"members": {1: {"birth_year": late}, 2: {"birth_year": late}}}
    doc["size"] = 2  # more members than the household's size: that alone is reported
    assert errors_of(doc) == {"members": [msg("members_exceed_size")]}


def test_item_paths_are_where_the_message_goes() -> None:
    data = {
        "size": 5,
        "members": [{"birth_year": 1950}, {"birth_year": 2031}],
        "created_at": dt.datetime(2024, 8, 25, tzinfo=dt.UTC),
    }
    errors = check_rules(schema_for("household").rules, data)
    assert errors == {"members": {1: {"birth_year": [msg("birth_year_future")]}}}


# -- entry rules: no future times where a record is typed -----------------------------

FUTURE = (
    "不能晚于保存记录的时间（不能填写将来的时间）。",
    "Must not be later than the moment the record is saved (no future times).",
)


def _entry_errors(doc: dict) -> dict:
    try:
        check_entry(doc)
    except DocumentInvalid as invalid:
        return invalid.errors
    return {}


def test_a_patrol_ending_after_it_was_saved_is_refused_at_entry_only() -> None:
    doc = example("patrol")
    doc["ended_at"] = "2099-01-01T10:00:00+08:00"
    doc["started_at"] = "2099-01-01T09:00:00+08:00"
    validate_document(doc)  # the server keeps taking it: no clock in its checks
    assert _entry_errors(doc) == {
        "started_at": [" / ".join(FUTURE)],
        "ended_at": [" / ".join(FUTURE)],
    }
    assert _entry_errors(example("patrol")) == {}


def test_a_water_source_found_after_the_day_it_was_saved_is_refused_at_entry() -> None:
    doc = example("water_source")
    saved_on = doc["updated_at"][:10]
    assert _entry_errors({**doc, "found_on": saved_on}) == {}  # the same local day is fine
    later = f"{int(saved_on[:4]) + 1}{saved_on[4:]}"
    assert _entry_errors({**doc, "found_on": later}) == {"found_on": [" / ".join(FUTURE)]}


def test_entry_rules_are_exported_for_the_tablet() -> None:
    rules = export_schemas()["schemas"]["HomeVisit"]["entry_rules"]
    assert rules == [
        {
            "rule": "not_after",
            "fields": ["visited_at"],
            "than": "updated_at",
            "message": "in_the_future",
        }
    ]
