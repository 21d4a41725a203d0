"""Cross-field rules, declared as data.

A rule that compares fields of one record (an end after its start, a follow-up after
the visit, a pipe length once a source is piped) is a plain JSON-able dict in the
schema's `rules`, not a Python function: the server interprets it here, and the
tablet's validator interprets the same dict (exported with the schemas), so a rule
added in `schemas/` needs no JavaScript edit.

Rules run on a record whose fields each passed their own checks (as marshmallow's
`@validates_schema` hooks do), in the order declared. A rule about a field that an
earlier rule already failed is skipped (an end before its start is not also reported
as too long after it); one rule may fail several items of a list.

Kinds (`field` paths are dotted within the schema: "follow_up.due_on"). A field that is
absent or null never fails a rule.
- `at_least` field, than, [as]: fails when field < than; `as` reads `than` as its
  "local_date" or its "year".
- `within` field, of, seconds: field - of (two times) is more than `seconds`.
- `in_order` fields: a field is below the latest earlier one given (the message gets
  `field` and `previous`).
- `required_when` fields, when {field, in | not_in}: a field is missing while the
  condition holds.
- `any_of` fields, at: every field is missing or empty; the message goes to `at`.
- `count_at_most` field, than: the list has more items than the number `than`.
- `each_at_most` field, item, than, [as]: an item's `item` is above `than`; the message
  goes to field.N.item.
- `parts_decreasing` field, separator: the text's numeric parts do not each fall below
  the one before (a blood pressure's systolic above its diastolic).
- `not_after` fields, than, [as]: a field is after `than` (read `as`); an entry rule
  (below) with `than` the record's `updated_at` refuses times in the future.

Entry rules (`entry_rules`) are checked where a record is typed, not where it arrives:
at the moment of saving, `updated_at` is the device's "now", so "not after updated_at"
is "not in the future", with no clock read here. The server does not apply them (an
old record edited later would fail for no fault of its own); the tablet's validator and
`fieldsync record` do, through `check_entry`.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .messages import MESSAGES, msg

Rule = Mapping[str, Any]
Errors = dict[str, Any]

_ABSENT = object()


def check_rules(rules: tuple[Rule, ...], data: Mapping[str, Any]) -> Errors:
    """The messages of every failing rule, nested by field path as marshmallow's are."""
    errors: Errors = {}
    for rule in rules:
        failed_before = set(errors) if errors else ()  # a rule may fail several items
        for path, message in _CHECKS[rule["rule"]](rule, data):
            if path.split(".", 1)[0] not in failed_before:
                _put(errors, path, message)
    return errors


def check_declared(rules: tuple[Rule, ...], where: str) -> None:
    """Refuse a rule this module cannot interpret (at import: a typo is no silent pass)."""
    for rule in rules:
        kind = rule.get("rule")
        if kind not in _CHECKS:
            raise ValueError(f"{where}: unknown rule kind {kind!r}")
        missing = _REQUIRED[kind] - rule.keys()
        if missing:
            raise ValueError(f"{where}: rule {kind} needs {sorted(missing)}")
        if rule["message"] not in MESSAGES:
            raise ValueError(f"{where}: rule {kind} names no known message {rule['message']!r}")
        if rule.get("as") not in _READINGS:
            raise ValueError(f"{where}: rule {kind} reads {rule['as']!r}, not one of {_READINGS}")


def _get(data: Mapping[str, Any], path: str) -> Any:
    if "." not in path:  # nearly every rule's fields: the hot path of every push
        found = data.get(path)
        return _ABSENT if found is None else found
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return _ABSENT
        value = value.get(part, _ABSENT)
        if value is None:
            return _ABSENT
    return value


def _put(errors: Errors, path: str, message: str) -> None:
    *parents, leaf = path.split(".")
    node = errors
    for part in parents:
        key: Any = int(part) if part.isdigit() else part
        node = node.setdefault(key, {})
    node[int(leaf) if leaf.isdigit() else leaf] = [message]


def _message(rule: Rule, field: str, other: str | None = None) -> str:
    """The rule's message; it may name the fields compared ({field}, {previous})."""
    return msg(rule["message"], field=field, previous=other)


_READINGS = (None, "local_date", "year")


def _read_as(value: Any, reading: str | None) -> Any:
    if reading == "local_date":  # the date in the offset the tablet recorded
        return value.date() if isinstance(value, dt.datetime) else value
    if reading == "year":
        return value.year
    return value


Found = Iterator[tuple[str, str]]


def _at_least(rule: Rule, data: Mapping[str, Any]) -> Found:
    value, than = _get(data, rule["field"]), _get(data, rule["than"])
    if value is not _ABSENT and than is not _ABSENT and value < _read_as(than, rule.get("as")):
        yield rule["field"], _message(rule, rule["field"], rule["than"])


def _within(rule: Rule, data: Mapping[str, Any]) -> Found:
    value, start = _get(data, rule["field"]), _get(data, rule["of"])
    if value is not _ABSENT and start is not _ABSENT:
        if value - start > dt.timedelta(seconds=rule["seconds"]):
            yield rule["field"], _message(rule, rule["field"], rule["of"])


def _in_order(rule: Rule, data: Mapping[str, Any]) -> Found:
    previous: str | None = None
    for name in rule["fields"]:
        value = _get(data, name)
        if value is _ABSENT:
            continue
        if previous is not None and value < _get(data, previous):
            yield name, _message(rule, name, previous)
        previous = name


def _condition_holds(when: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    value = _get(data, when["field"])
    if "in" in when:
        return value in when["in"]
    return value is not _ABSENT and value not in when["not_in"]


def _required_when(rule: Rule, data: Mapping[str, Any]) -> Found:
    if _condition_holds(rule["when"], data):
        for name in rule["fields"]:
            if _get(data, name) is _ABSENT:
                yield name, _message(rule, name, rule["when"]["field"])


def _any_of(rule: Rule, data: Mapping[str, Any]) -> Found:
    if not any(_get(data, name) not in (_ABSENT, [], "") for name in rule["fields"]):
        yield rule["at"], _message(rule, rule["at"])


def _count_at_most(rule: Rule, data: Mapping[str, Any]) -> Found:
    items, most = _get(data, rule["field"]), _get(data, rule["than"])
    if items is not _ABSENT and most is not _ABSENT and len(items) > most:
        yield rule["field"], _message(rule, rule["field"], rule["than"])


def _each_at_most(rule: Rule, data: Mapping[str, Any]) -> Found:
    items, most = _get(data, rule["field"]), _get(data, rule["than"])
    if items is _ABSENT or most is _ABSENT:
        return
    most = _read_as(most, rule.get("as"))
    for index, item in enumerate(items):
        value = _get(item, rule["item"])
        if value is not _ABSENT and value > most:
            yield (
                f"{rule['field']}.{index}.{rule['item']}",
                _message(rule, rule["item"], rule["than"]),
            )


def _parts_decreasing(rule: Rule, data: Mapping[str, Any]) -> Found:
    text = _get(data, rule["field"])
    if text is _ABSENT:
        return
    parts = [int(part) for part in text.split(rule["separator"])]
    if any(later >= earlier for earlier, later in itertools.pairwise(parts)):
        yield rule["field"], _message(rule, rule["field"])


def _not_after(rule: Rule, data: Mapping[str, Any]) -> Found:
    than = _get(data, rule["than"])
    if than is _ABSENT:
        return
    latest = _read_as(than, rule.get("as"))
    for name in rule["fields"]:
        value = _get(data, name)
        if value is not _ABSENT and value > latest:
            yield name, _message(rule, name, rule["than"])


_CHECKS: dict[str, Callable[[Rule, Mapping[str, Any]], Found]] = {
    "at_least": _at_least,
    "within": _within,
    "in_order": _in_order,
    "required_when": _required_when,
    "any_of": _any_of,
    "count_at_most": _count_at_most,
    "each_at_most": _each_at_most,
    "parts_decreasing": _parts_decreasing,
    "not_after": _not_after,
}
_REQUIRED: dict[str, frozenset[str]] = {
    "at_least": frozenset({"field", "than", "message"}),
    "within": frozenset({"field", "of", "seconds", "message"}),
    "in_order": frozenset({"fields", "message"}),
    "required_when": frozenset({"fields", "when", "message"}),
    "any_of": frozenset({"fields", "at", "message"}),
    "count_at_most": frozenset({"field", "than", "message"}),
    "each_at_most": frozenset({"field", "item", "than", "message"}),
    "parts_decreasing": frozenset({"field", "separator", "message"}),
    "not_after": frozenset({"fields", "than", "message"}),
}
