"""Load plans: marshmallow's `Schema.load` for documents that are valid, at a
fraction of the cost.

The gateway loads every pushed revision, and most of the time marshmallow
spends on a valid document is its own machinery (an error store, a getter
closure and a validator wrapper per field), not our checks. A load plan is
built once per schema from the same field objects and hooks, and runs them
in a plain loop:

- each field's own `_deserialize` and `validators`, with marshmallow's order of
  checks (missing, null, deserialize, validate);
- nested schemas and lists through their own plans;
- unknown keys refused, then the schema's `@validates_schema` hooks.

It never makes an error message: at the first problem (a `ValidationError`,
or anything unexpected) it gives up and the caller runs marshmallow's own
`load`, whose errors are the answer. So marshmallow stays the one definition
of validity; the plan is only a quicker road to the same success. A schema
using a feature the plan does not drive (pre/post-load hooks, per-field
`@validates`, `partial`, defaults, `only`/`exclude`, other `unknown`
settings) gets no plan and always goes through marshmallow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import RAISE, Schema, fields, missing
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

# (raw value present in the data, its key, the mapping it came from) -> loaded value
FieldPlan = Callable[[Any, Any, Any], Any]
SchemaPlan = Callable[[Any], dict[str, Any]]


class GiveUp(Exception):
    """The plan found a problem (or something it does not handle): ask marshmallow."""


class Unsupported(Exception):
    """A schema or field uses a feature the plan does not drive."""


def schema_plan(schema: Schema, set_aside: frozenset[str] = frozenset()) -> SchemaPlan:
    """The plan of a schema instance; raises Unsupported when there can be none.
    `set_aside`: keys that are not the schema's (CouchDB's `_rev`, ...): the plan loads
    the document as marshmallow would load it without them."""
    if schema.many or schema.partial or schema.unknown != RAISE or schema.dict_class is not dict:
        raise Unsupported(f"{type(schema).__name__}: many, partial, unknown or dict_class")
    hooks = schema._hooks
    if hooks[PRE_LOAD] or hooks[POST_LOAD] or hooks[VALIDATES]:
        raise Unsupported(f"{type(schema).__name__}: load processors or field validators")
    validators = []
    for name, pass_many, options in hooks[VALIDATES_SCHEMA]:
        if pass_many or options.get("pass_original"):
            raise Unsupported(f"{type(schema).__name__}.{name}: pass_many or pass_original")
        validators.append(getattr(schema, name))
    steps: list[tuple[str, str, bool, FieldPlan]] = []
    for name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else name
        attribute = field.attribute or name
        if "." in attribute:  # marshmallow would build a nested dict
            raise Unsupported(f"{type(schema).__name__}.{name}: dotted attribute")
        steps.append((key, attribute, field.required, field_plan(field)))
    known = frozenset(step[0] for step in steps)
    if known & set_aside:
        raise Unsupported(f"{type(schema).__name__}: a field named like a set-aside key")
    known |= set_aside

    def load(data: Any) -> dict[str, Any]:
        if type(data) is not dict and not isinstance(data, Mapping):  # dict: the quick test
            raise GiveUp
        loaded: dict[str, Any] = {}
        for key, attribute, required, plan in steps:
            value = data.get(key, missing)
            if value is missing:  # a field plan's load default is `missing`: left out
                if required:
                    raise GiveUp
                continue
            loaded[attribute] = plan(value, key, data)
        if not known.issuperset(data):
            raise GiveUp  # an unknown key
        for validator in validators:
            validator(loaded, partial=None, many=False, unknown=RAISE)
        return loaded

    return load


def field_plan(field: fields.Field) -> FieldPlan:
    """The plan of one field for a value that is there (the schema's plan handles a
    missing one): `Field.deserialize` without its wrappers."""
    if field.pre_load or field.post_load or field.load_default is not missing:
        raise Unsupported(f"{type(field).__name__}: field processors or a load default")
    allow_none = field.allow_none
    validators = tuple(field.validators)
    convert = _converter(field)

    def load(value: Any, key: Any, data: Any) -> Any:
        if value is None:
            if allow_none:
                return None
            raise GiveUp
        output = convert(value, key, data)
        for validator in validators:
            validator(output)  # marshmallow's And ignores what they return, too
        return output

    def load_unchecked(value: Any, key: Any, data: Any) -> Any:  # no validators: most fields
        if value is None:
            if allow_none:
                return None
            raise GiveUp
        return convert(value, key, data)

    return load if validators else load_unchecked


def _converter(field: fields.Field) -> FieldPlan:
    """The field's own `_deserialize`, as marshmallow calls it; for a nested schema and
    for a list's items, their plans instead (marshmallow's whole load, when none)."""
    try:
        return _planned_converter(field)
    except Unsupported:
        return field._deserialize


def _planned_converter(field: fields.Field) -> FieldPlan:
    if isinstance(field, fields.List):
        item = field_plan(field.inner)

        def items(value: Any, key: Any, data: Any) -> list[Any]:
            if type(value) is not list:  # JSON's only collection; marshmallow judges others
                raise GiveUp
            return [item(each, None, None) for each in value]

        return items
    if isinstance(field, fields.Nested) and not isinstance(field, fields.Pluck):
        if not (field.many or field.only or field.exclude or field.unknown not in (None, RAISE)):
            nested = schema_plan(field.schema)
            return lambda value, key, data: nested(value)
    raise Unsupported(type(field).__name__)
