"""Load plans (schemas/load_plan.py) against marshmallow's own load.

A plan may only ever be a quicker road to marshmallow's success: for any
input, the plan succeeds exactly when marshmallow's load does, with the same
result. Checked on every example and demo document, and on generated
mutations of them (values swapped between documents, random JSON, keys
removed or added)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, pre_load

from schemas import DocumentInvalid, load_document
from schemas.fields import BaseSchema, Int, Text
from schemas.load_plan import GiveUp, Unsupported, schema_plan
from schemas.registry import CURRENT_VERSIONS, _load_plan, _schema_instance
from schemas.testing import DELETE, example, with_value
from server.demo_county import DemoCounty

FIELD_TYPES = ("patrol", "water_source", "home_visit", "household")


def _demo_docs() -> list[dict]:
    county = DemoCounty(3)
    village = county.villages[0]
    household = county.household(village)
    return [
        household,
        county.home_visit(village, household["_id"]),
        county.patrol(village),
        county.water_source(village),
    ]


DOCS = [example(t) for t in CURRENT_VERSIONS] + _demo_docs()


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from _paths(value, (*path, index))


def _at(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


# Every value found in the documents: a swapped-in value is often nearly right.
FOUND_VALUES = [_at(doc, path) for doc in DOCS for path in _paths(doc)]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "\x00", "\ud800", "2024-10-12", "2024-10-12T08:00:00"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _outcome(load: Any, doc: Any) -> tuple[str, Any]:
    try:
        return "ok", load(doc)
    except (ValidationError, GiveUp):
        return "invalid", None


def _marshmallow(doc: dict) -> tuple[str, Any]:
    return _outcome(_schema_instance(doc["type"]).load, doc)


def _plan(doc: dict) -> tuple[str, Any]:
    plan = _load_plan(doc["type"])
    assert plan is not None
    try:
        return _outcome(plan, doc)
    except Exception:  # the plan may meet anything marshmallow would refuse
        return "invalid", None


def _body(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("_rev", "_attachments", "_revisions")}


@pytest.mark.parametrize("doc_type", FIELD_TYPES)
def test_every_field_record_type_has_a_plan(doc_type: str) -> None:
    # The gateway's hot path: a type without a plan would silently lose the speed.
    assert _load_plan(doc_type) is not None


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d["_id"][:40])
def test_a_valid_document_loads_the_same(doc: dict) -> None:
    if _load_plan(doc["type"]) is None:
        pytest.skip(f"{doc['type']} goes through marshmallow only")
    expected = _marshmallow(_body(doc))
    assert expected[0] == "ok"
    assert _plan(_body(doc)) == expected


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d["_id"][:40])
def test_couchdb_members_are_set_aside_as_marshmallow_loads_without_them(doc: dict) -> None:
    stored = {
        **doc,
        "_rev": "2-" + "b" * 32,
        "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]},
        "_attachments": {"photo.jpg": {"stub": True, "digest": "md5-x", "length": 1}},
    }
    assert load_document(stored) == _schema_instance(doc["type"]).load(_body(doc))
    with pytest.raises(DocumentInvalid):
        load_document({**stored, "_unknown_member": 1})  # only CouchDB's are set aside


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    doc = _body(copy.deepcopy(draw(st.sampled_from([d for d in DOCS if _load_plan(d["type"])]))))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        action = draw(st.sampled_from(["swap", "random", "delete", "add"]))
        if action == "add" or not paths:
            container_paths = [()] + [p for p in paths if isinstance(_at(doc, p), dict)]
            where = draw(st.sampled_from(container_paths))
            key = draw(st.sampled_from(["note", "extra", "place", "_id", "review", "location"]))
            _at(doc, where)[key] = copy.deepcopy(draw(st.sampled_from(FOUND_VALUES)))
            continue
        path = draw(st.sampled_from(paths))
        if path == ("type",) and action != "swap":
            continue  # the registry's header check runs before any schema: not the plan's job
        if action == "delete":
            doc = with_value(doc, path, DELETE)
        elif action == "swap":
            value = draw(st.sampled_from(FOUND_VALUES))
            if path == ("type",) and not (
                isinstance(value, str) and value in CURRENT_VERSIONS and _load_plan(value)
            ):
                continue
            doc = with_value(doc, path, copy.deepcopy(value))
        else:
            doc = with_value(doc, path, draw(json_values))
    return doc


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_plan_succeeds_exactly_when_marshmallow_does(doc: dict) -> None:
    assert _plan(doc) == _marshmallow(doc)


def test_load_document_answers_marshmallows_errors_when_the_plan_gives_up() -> None:
    doc = with_value(example("home_visit"), ("duration_min",), 0)
    with pytest.raises(DocumentInvalid) as caught:
        load_document(doc)
    assert "duration_min" in caught.value.errors


class _WithPreLoad(BaseSchema):
    name = Text()

    @pre_load
    def _strip(self, data: dict, **kwargs: Any) -> dict:
        return data


class _WithDefault(BaseSchema):
    count = Int(load_default=0)


class _Plain(BaseSchema):
    name = Text(required=True)
    count = Int(allow_none=True)


@pytest.mark.parametrize("schema_class", [_WithPreLoad, _WithDefault])
def test_a_feature_the_plan_does_not_drive_gets_no_plan(schema_class: type[Schema]) -> None:
    with pytest.raises(Unsupported):
        schema_plan(schema_class())


def test_a_plan_drives_the_fields_own_checks() -> None:
    plan = schema_plan(_Plain())
    assert plan({"name": "王", "count": None}) == {"name": "王", "count": None}
    for bad in ({"name": " "}, {"count": 1}, {"name": "a", "count": "1"}, {"name": "a", "x": 1}):
        with pytest.raises((GiveUp, ValidationError)):
            plan(bad)
        with pytest.raises(ValidationError):
            _Plain().load(bad)
