"""Field validators with bilingual messages.

marshmallow.validate's validators speak English only, so schemas use these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import ValidationError

from .messages import msg


class Range:
    """min <= value <= max; `min_exclusive` turns the lower bound into min < value."""

    def __init__(
        self,
        min: float | None = None,
        max: float | None = None,
        *,
        min_exclusive: bool = False,
    ) -> None:
        self.min = min
        self.max = max
        self.min_exclusive = min_exclusive

    def __call__(self, value: float) -> float:
        if self.min is not None:
            if self.min_exclusive and value <= self.min:
                raise ValidationError(msg("number_above", min=self.min))
            if not self.min_exclusive and value < self.min:
                raise ValidationError(msg("number_min", min=self.min))
        if self.max is not None and value > self.max:
            raise ValidationError(msg("number_max", max=self.max))
        return value

    def __repr__(self) -> str:
        return f"Range(min={self.min!r}, max={self.max!r}, min_exclusive={self.min_exclusive})"


class Length:
    """Bounds on the number of items of a list."""

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        self.min = min
        self.max = max

    def __call__(self, value: Sequence[Any]) -> Sequence[Any]:
        if self.min is not None and len(value) < self.min:
            raise ValidationError(msg("list_min", min=self.min))
        if self.max is not None and len(value) > self.max:
            raise ValidationError(msg("list_max", max=self.max))
        return value

    def __repr__(self) -> str:
        return f"Length(min={self.min!r}, max={self.max!r})"


class Unique:
    """No two items equal (or, with `by`, no two with the same `item[by]`), e.g.
    participants or need ids. A field name, not a function: the tablet reads it too."""

    def __init__(self, by: str | None = None, message: str = "list_unique") -> None:
        self.by = by
        self.message = message

    def __call__(self, value: Sequence[Any]) -> Sequence[Any]:
        keys = [item[self.by] if self.by else item for item in value]
        if len(set(keys)) != len(keys):
            raise ValidationError(msg(self.message))
        return value

    def __repr__(self) -> str:
        return f"Unique(by={self.by!r}, message={self.message!r})"
