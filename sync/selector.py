"""Mango selectors (CouchDB's `_find` language) compiled to Python predicates.

Used to filter a changes feed by field values. Only the operators listed in
`_FIELD_OPS` and `_COMBINATORS` are known; anything else is a BadRequest, so a
typo never silently matches everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import BadRequest

Predicate = Callable[[Any], bool]
_MISSING = object()


def _collation_rank(value: object) -> int:
    # CouchDB collation across types: null < false < true < numbers < strings < arrays < objects
    if value is None:
        return 0
    if value is False:
        return 1
    if value is True:
        return 2
    if isinstance(value, int | float):
        return 3
    if isinstance(value, str):
        return 4
    if isinstance(value, list):
        return 5
    return 6


def collate(left: object, right: object) -> int:
    """CouchDB's view collation of two JSON values: negative, zero or positive."""
    rank_l, rank_r = _collation_rank(left), _collation_rank(right)
    if rank_l != rank_r:
        return -1 if rank_l < rank_r else 1
    if rank_l in (3, 4):
        return (left > right) - (left < right)  # type: ignore[operator]
    if rank_l == 5:
        for a, b in zip(left, right, strict=False):  # type: ignore[call-overload]
            if (order := collate(a, b)) != 0:
                return order
        return (len(left) > len(right)) - (len(left) < len(right))  # type: ignore[arg-type]
    return 0


def _ordered(test: Callable[[int], bool], operand: object) -> Predicate:
    return lambda value: value is not _MISSING and test(collate(value, operand))


def _regex(operand: object) -> Predicate:
    if not isinstance(operand, str):
        raise BadRequest("$regex needs a string pattern")
    try:
        pattern = re.compile(operand)
    except re.error as exc:
        raise BadRequest(f"$regex pattern is invalid: {exc}") from None
    return lambda value: isinstance(value, str) and pattern.search(value) is not None


def _in(operand: object, negate: bool) -> Predicate:
    if not isinstance(operand, list):
        raise BadRequest("$in and $nin need an array")

    def test(value: object) -> bool:
        if value is _MISSING:
            return negate
        candidates = value if isinstance(value, list) else [value]
        hit = any(collate(c, o) == 0 for c in candidates for o in operand)
        return hit != negate

    return test


def _elem_match(operand: object) -> Predicate:
    inner = _compile_field_condition(operand)
    return lambda value: isinstance(value, list) and any(inner(item) for item in value)


def _size(operand: object) -> Predicate:
    if not isinstance(operand, int):
        raise BadRequest("$size needs an integer")
    return lambda value: isinstance(value, list) and len(value) == operand


_FIELD_OPS: dict[str, Callable[[object], Predicate]] = {
    "$eq": lambda o: _ordered(lambda c: c == 0, o),
    "$ne": lambda o: lambda v: v is _MISSING or collate(v, o) != 0,
    "$gt": lambda o: _ordered(lambda c: c > 0, o),
    "$gte": lambda o: _ordered(lambda c: c >= 0, o),
    "$lt": lambda o: _ordered(lambda c: c < 0, o),
    "$lte": lambda o: _ordered(lambda c: c <= 0, o),
    "$in": lambda o: _in(o, negate=False),
    "$nin": lambda o: _in(o, negate=True),
    "$exists": lambda o: lambda v: (v is not _MISSING) == bool(o),
    "$regex": _regex,
    "$elemMatch": _elem_match,
    "$size": _size,
    "$not": lambda o: _negate(_compile_field_condition(o)),
}


def _negate(predicate: Predicate) -> Predicate:
    return lambda value: not predicate(value)


def _compile_field_condition(condition: object) -> Predicate:
    """A condition on one value: an operator object, or a literal for $eq."""
    if isinstance(condition, Mapping) and condition and all(k.startswith("$") for k in condition):
        tests = []
        for op, operand in condition.items():
            if op not in _FIELD_OPS:
                raise BadRequest(f"unknown selector operator {op}")
            tests.append(_FIELD_OPS[op](operand))
        return lambda value: all(test(value) for test in tests)
    if isinstance(condition, Mapping):
        # a sub-object is a nested selector on the value's fields
        nested = compile_selector(condition)
        return lambda value: isinstance(value, Mapping) and nested(value)
    return _FIELD_OPS["$eq"](condition)


def _lookup(doc: Mapping, path: list[str]) -> object:
    value: object = doc
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _combinator(op: str, operand: object) -> Predicate:
    if op == "$not":
        return _negate(compile_selector(operand))
    if not isinstance(operand, list) or not operand:
        raise BadRequest(f"{op} needs a non-empty array of selectors")
    parts = [compile_selector(item) for item in operand]
    if op == "$and":
        return lambda doc: all(p(doc) for p in parts)
    if op == "$or":
        return lambda doc: any(p(doc) for p in parts)
    return lambda doc: not any(p(doc) for p in parts)  # $nor


_COMBINATORS = ("$and", "$or", "$nor", "$not")


def compile_selector(selector: object) -> Callable[[Mapping], bool]:
    """Turn a selector object into a predicate over documents."""
    if not isinstance(selector, Mapping):
        raise BadRequest("a selector must be a JSON object")
    tests: list[Predicate] = []
    for key, condition in selector.items():
        if key in _COMBINATORS:
            tests.append(_combinator(key, condition))
        elif key.startswith("$"):
            raise BadRequest(f"unknown selector operator {key}")
        else:
            path = key.split(".")
            field_test = _compile_field_condition(condition)
            tests.append(lambda doc, p=path, t=field_test: t(_lookup(doc, p)))
    return lambda doc: all(test(doc) for test in tests)
