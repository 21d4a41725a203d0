"""The bilingual catalogue, and a walk proving no English-only message escapes."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema
from marshmallow import fields as mfields
from marshmallow import validate as mvalidate

from schemas import DOC_TYPES, DocumentInvalid, error_messages, msg, split_message
from schemas.messages import MESSAGES, SEPARATOR
from schemas.registry import REGISTRY, validate_document
from schemas.testing import DELETE, example, with_value
from schemas.validators import Length, Range, Unique

CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


def assert_bilingual(message: Any) -> None:
    assert isinstance(message, str), message
    halves = split_message(message)
    assert CJK.search(halves["zh"]), message
    assert LATIN.search(halves["en"]), message
    assert not CJK.search(halves["en"]), message
    assert halves["zh"].endswith("。"), message
    assert "\n" not in message


# -- msg and split_message ----------------------------------------------------


def test_msg_joins_chinese_and_english() -> None:
    assert msg("required") == "缺少必填字段。 / Missing data for required field."


def test_msg_formats_both_halves() -> None:
    assert msg("list_min", min=1) == "至少需要 1 项。 / At least 1 item(s) required."


def test_split_message_returns_each_language() -> None:
    assert split_message(msg("null")) == {
        "zh": "此字段不能为 null。",
        "en": "Field may not be null.",
    }


def test_split_message_keeps_separator_inside_english_half() -> None:
    assert split_message("血压。 / Use 120/80 / 130/85.") == {
        "zh": "血压。",
        "en": "Use 120/80 / 130/85.",
    }


def test_split_message_of_a_plain_string_gives_it_as_both() -> None:
    assert split_message("oops") == {"zh": "oops", "en": "oops"}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_catalogue_entry_is_bilingual(key: str) -> None:
    zh, en = MESSAGES[key]
    params: dict[str, str] = {name: "1" for name in _placeholders(zh) | _placeholders(en)}
    if "detail_zh" in params:
        params.update(detail_zh="细节。", detail_en="detail.")
    message = msg(key, **params)
    assert_bilingual(message)
    assert message.endswith(".")
    assert message.count(SEPARATOR) >= 1


# -- every field and schema, statically ---------------------------------------


def _schemas() -> Iterator[Schema]:
    seen: set[type] = set()
    pending: list[Schema] = [entry.schema() for entry in REGISTRY.values() if entry.schema]
    while pending:
        schema = pending.pop()
        if type(schema) in seen:
            continue
        seen.add(type(schema))
        yield schema
        for field in schema.fields.values():
            for inner in _field_tree(field):
                if isinstance(inner, mfields.Nested):
                    pending.append(inner.schema)


def _field_tree(field: mfields.Field) -> Iterator[mfields.Field]:
    yield field
    if isinstance(field, mfields.List):
        yield from _field_tree(field.inner)


ALL_SCHEMAS = list(_schemas())


def test_the_walk_finds_nested_schemas() -> None:
    names = {type(schema).__name__ for schema in ALL_SCHEMAS}
    assert {"Location", "Review", "Incident", "TrackPoint", "Need", "Health"} <= names


@pytest.mark.parametrize("schema", ALL_SCHEMAS, ids=lambda s: type(s).__name__)
def test_every_schema_and_field_message_is_bilingual(schema: Schema) -> None:
    for message in schema.error_messages.values():
        assert_bilingual(message)
    for name, field in schema.fields.items():
        for inner in _field_tree(field):
            for key, message in inner.error_messages.items():
                assert isinstance(message, str), (name, key)
                assert_bilingual(message)
            for validator in inner.validators:
                # marshmallow.validate speaks English only.
                assert not isinstance(validator, mvalidate.Validator), (name, validator)
                assert isinstance(validator, Range | Length | Unique), (name, validator)


# -- every field and schema, dynamically ----------------------------------------

GARBAGE: list[Any] = [
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    -1e308,
    float("nan"),
    float("inf"),
    "",
    " ",
    "x",
    "\x00",
    "\x85",
    "\ud800",
    "a" * 5001,
    "2024-08-25T09:30:00",
    "2024-02-30",
    "2024-08-25T09:30:00+08:00",
    "2024-08-25",
    "422827",
    "user:zhangsan",
    "patrol:a/b",
    "_x",
    [],
    [None],
    ["x", "x"],
    [{}],
    {},
    {"x": 1},
]


def _full(doc_type: str) -> dict[str, Any]:
    """The example with server-owned fields too, so the walk reaches them."""
    doc = example(doc_type)
    doc["review"] = {
        "state": "returned",
        "by": "user:county-li",
        "at": "2024-08-27T10:00:00+08:00",
        "comment": "请补充水源照片。",
    }
    doc["server_received_at"] = "2024-08-26T08:00:00+08:00"
    return doc


def _paths(schema: Schema, data: Any, prefix: tuple) -> Iterator[tuple]:
    yield (*prefix, "unexpected_field")
    for name, field in schema.fields.items():
        key = field.data_key or name
        path = (*prefix, key)
        yield path
        value = data.get(key) if isinstance(data, dict) else None
        yield from _value_paths(field, value, path)


def _value_paths(field: mfields.Field, value: Any, path: tuple) -> Iterator[tuple]:
    if isinstance(field, mfields.Nested) and isinstance(value, dict):
        yield from _paths(field.schema, value, path)
    elif isinstance(field, mfields.List) and isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _value_paths(field.inner, item, (*path, index))


def _all_messages(doc: Any) -> list[str]:
    try:
        validate_document(doc)
    except DocumentInvalid as error:
        assert_bilingual(error.reason)
        return [message for _, message in error_messages(error.errors)]
    return []


@pytest.mark.parametrize("doc_type", DOC_TYPES)
def test_every_error_any_field_can_produce_is_bilingual(doc_type: str) -> None:
    doc = _full(doc_type)
    schema = REGISTRY[(doc_type, max(v for t, v in REGISTRY if t == doc_type))].schema()
    produced: set[str] = set()
    for path in _paths(schema, doc, ()):
        for value in [DELETE, *GARBAGE]:
            try:
                bad = with_value(doc, path, value)
            except KeyError:
                continue  # deleting a field the example leaves out
            produced.update(_all_messages(bad))
    for message in produced:
        assert_bilingual(message)
    assert len(produced) > 10


def test_schema_level_messages_are_bilingual() -> None:
    for bad in (None, [], "patrol", 3, {"type": "nope"}, {"type": "patrol"}):
        for message in _all_messages(bad):
            assert_bilingual(message)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc_type=st.sampled_from(DOC_TYPES),
    pick=st.integers(min_value=0),
    value=_json,
)
def test_random_json_anywhere_only_ever_gives_bilingual_messages(
    doc_type: str, pick: int, value: Any
) -> None:
    doc = _full(doc_type)
    schema = REGISTRY[(doc_type, max(v for t, v in REGISTRY if t == doc_type))].schema()
    paths = list(_paths(schema, doc, ()))
    bad = with_value(doc, paths[pick % len(paths)], value)
    for message in _all_messages(bad):
        assert_bilingual(message)
