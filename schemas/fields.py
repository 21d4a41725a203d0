"""Field types shared by every document schema.

All of them speak the bilingual catalogue: marshmallow's English defaults are
replaced here, once, so no English-only message can reach a volunteer. Fields
accept JSON types only (no "12" for 12, no "yes" for true): documents come
from JSON and coercion would hide client bugs.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema

from .ids import doc_id_error
from .messages import msg
from .places import PLACE_LEVELS, is_place_code, level_names, place_level
from .rules import Rule, check_declared, check_rules
from .validators import Range

# Field metadata flags read by the registry (and, later, by the server).
PERSONAL_FLAG = "personal"
SERVER_OWNED_FLAG = "server_owned"
PERSONAL: dict[str, bool] = {PERSONAL_FLAG: True}
SERVER_OWNED: dict[str, bool] = {SERVER_OWNED_FLAG: True}


class BaseSchema(Schema):
    """Every schema, top-level or nested: bilingual messages, unknown fields raise."""

    error_messages = {"type": msg("not_object"), "unknown": msg("unknown")}

    class Meta:
        unknown = RAISE


class RuledSchema(BaseSchema):
    """A schema with cross-field rules declared as data (`schemas/rules.py`). `rules`
    holds a class's own; `all_rules` adds those of its bases, theirs first."""

    rules: ClassVar[tuple[Rule, ...]] = ()
    all_rules: ClassVar[tuple[Rule, ...]] = ()
    # Checked where the record is typed only (schemas/rules.py): no future times.
    entry_rules: ClassVar[tuple[Rule, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("rules", ())
        check_declared(own, cls.__name__)
        check_declared(cls.__dict__.get("entry_rules", ()), cls.__name__)
        cls.all_rules = tuple(
            rule for klass in reversed(cls.__mro__) for rule in klass.__dict__.get("rules", ())
        )

    @validates_schema
    def _check_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        raise_if(check_rules(self.all_rules, data))


class _Bilingual:
    """Mixin replacing the messages every marshmallow field can raise."""

    default_error_messages: dict[str, str] = {
        "required": msg("required"),
        "null": msg("null"),
        "validator_failed": msg("invalid_value"),
    }


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _has_surrogate(value: str) -> bool:
    return _SURROGATE.search(value) is not None


# Unicode's Cc category is exactly C0 and C1; newline and tab are text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _has_control(value: str) -> bool:
    """C0/C1 control characters other than newline and tab (so \r is refused)."""
    return _CONTROL.search(value) is not None


class Text(_Bilingual, fields.Field):
    """Human text: NFC-normalised, no broken surrogates, no control characters
    except newline and tab, not blank unless `allow_blank`, at most `max_length`
    characters (code points, counted after normalisation)."""

    default_error_messages = {
        "invalid": msg("not_string"),
        "surrogate": msg("text_surrogate"),
        "control": msg("text_control"),
        "blank": msg("text_blank"),
    }

    def __init__(self, *, max_length: int = 2000, allow_blank: bool = False, **kwargs: Any):
        self.max_length = max_length
        self.allow_blank = allow_blank
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        # Lone surrogates are what broken UTF-16/UTF-8 decoding leaves behind;
        # they cannot be stored as UTF-8 at all.
        if _has_surrogate(value):
            raise self.make_error("surrogate")
        value = unicodedata.normalize("NFC", value)
        if _has_control(value):
            raise self.make_error("control")
        if not self.allow_blank and not value.strip():
            raise self.make_error("blank")
        if len(value) > self.max_length:
            raise ValidationError(msg("text_too_long", max=self.max_length))
        return value


class Token(Text):
    """A short machine string (device id, username, phone) matching `pattern`."""

    def __init__(self, pattern: str, message: str, **kwargs: Any):
        self.pattern = re.compile(pattern)
        self.message = message
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        if self.pattern.fullmatch(value) is None:
            raise ValidationError(msg(self.message))
        return value


class Int(_Bilingual, fields.Integer):
    """A JSON integer (strict: no strings, no floats, no booleans)."""

    default_error_messages = {"invalid": msg("not_integer"), "too_large": msg("too_large")}

    def __init__(self, **kwargs: Any):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        # Not a bool, and not 3.0 (which passes marshmallow's Integral check): a JSON
        # integer. (marshmallow's own path, int() of an int, gives the same value.)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return int(value)


class Number(_Bilingual, fields.Field):
    """A finite JSON number, kept as given (int or float) so documents round-trip."""

    default_error_messages = {"invalid": msg("not_number"), "special": msg("not_finite")}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("special")
        return value


class Bool(_Bilingual, fields.Field):
    """true or false only."""

    default_error_messages = {"invalid": msg("not_boolean")}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Choice(_Bilingual, fields.Field):
    """One of a fixed set of English snake_case strings."""

    def __init__(self, choices: tuple[str, ...], **kwargs: Any):
        self.choices = choices
        super().__init__(**kwargs)
        self.error_messages["invalid"] = msg(
            "invalid_choice", choices_zh="、".join(choices), choices=", ".join(choices)
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise self.make_error("invalid")
        return value


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The times both ends read (the tablet's validator has this grammar, not whatever the
# running Python's fromisoformat happens to take): a date, a 24-hour time to the minute,
# second or fraction (digits past the sixth dropped), then the offset: Z, +HH:MM, +HHMM
# or +HH. With no offset the time is "naive", refused as such.
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"(?P<offset>Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?"
)


class Date(_Bilingual, fields.Field):
    """A calendar date "YYYY-MM-DD"."""

    default_error_messages = {"invalid": msg("invalid_date")}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.date:
        if not isinstance(value, str) or _DATE_RE.fullmatch(value) is None:
            raise self.make_error("invalid")
        try:
            return dt.date.fromisoformat(value)
        except ValueError as error:
            raise self.make_error("invalid") from error

    def _serialize(self, value: dt.date | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.isoformat()


class AwareDateTime(_Bilingual, fields.Field):
    """ISO 8601 date-time with a mandatory UTC offset.

    A naive time is ambiguous once records from several tablets are merged,
    so it is refused with a message that says the time zone is missing.
    """

    default_error_messages = {
        "invalid": msg("invalid_datetime"),
        "naive": msg("naive_datetime"),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        match = _DATETIME_RE.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise self.make_error("invalid")
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as error:
            raise self.make_error("invalid") from error
        if match["offset"] is None:
            raise self.make_error("naive")
        return parsed

    def _serialize(self, value: dt.datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.isoformat()


class List(_Bilingual, fields.List):
    default_error_messages = {"invalid": msg("not_list")}


class Nested(_Bilingual, fields.Nested):
    default_error_messages = {"type": msg("not_list")}


class DocId(_Bilingual, fields.Field):
    """A document id; with `doc_type`, a reference to a document of that type."""

    def __init__(self, doc_type: str | None = None, **kwargs: Any):
        self.doc_type = doc_type
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        error = doc_id_error(value, self.doc_type)
        if error is not None:
            raise ValidationError(error)
        return value


class PlaceCode(_Bilingual, fields.Field):
    """A place code, optionally restricted to some `levels`."""

    default_error_messages = {"invalid": msg("place_code_invalid")}

    def __init__(self, levels: tuple[str, ...] = PLACE_LEVELS, **kwargs: Any):
        self.levels = levels
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not is_place_code(value):
            raise self.make_error("invalid")
        if place_level(value) not in self.levels:
            raise ValidationError(msg("place_level_not_allowed", **level_names(self.levels)))
        return value


class Location(BaseSchema):
    """A GPS fix as a tablet reports it."""

    lat = Number(required=True, validate=Range(-90, 90))
    lon = Number(required=True, validate=Range(-180, 180))
    accuracy_m = Number(required=True, validate=Range(0, 10000, min_exclusive=True))
    # Sanity bounds only: the Dead Sea shore to above Everest.
    altitude_m = Number(allow_none=True, validate=Range(-500, 9000))
    taken_at = AwareDateTime(allow_none=True)


def raise_if(errors: Mapping[str, Any]) -> None:
    """Raise the errors a schema-level check collected, each under its field."""
    if errors:
        raise ValidationError(dict(errors))
