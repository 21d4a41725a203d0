"""Place codes: prefix-hierarchical digit strings modelled on China's
administrative division codes.

county 6 digits (422827 = 来凤县) > township/street 9 > village/community 12 >
grid 15 (village code + 3 digits). A code's parent is the code without its
last three digits, so "is X inside scope S" is a plain prefix test, which is
also what makes scoped replication cheap to filter.
"""

from __future__ import annotations

import re
from typing import Literal

from .messages import msg

PlaceLevel = Literal["county", "township", "village", "grid"]

LEVEL_BY_LENGTH: dict[int, PlaceLevel] = {6: "county", 9: "township", 12: "village", 15: "grid"}
PLACE_LEVELS: tuple[PlaceLevel, ...] = ("county", "township", "village", "grid")
LEVEL_NAMES_ZH: dict[str, str] = {
    "county": "县",
    "township": "乡镇/街道",
    "village": "村/社区",
    "grid": "网格",
}
# Where field records (patrols, water sources, home visits) may sit.
FIELD_LEVELS: tuple[PlaceLevel, ...] = ("village", "grid")

# ASCII digits only: str.isdigit() would accept "４２２" and "²".
_CODE_RE = re.compile(r"[0-9]{6}(?:[0-9]{3}){0,3}")


def is_place_code(code: object) -> bool:
    """True when `code` is a str of 6, 9, 12 or 15 ASCII digits."""
    return isinstance(code, str) and _CODE_RE.fullmatch(code) is not None


def _checked(code: object) -> str:
    if not is_place_code(code):
        raise ValueError(msg("place_code_invalid"))
    return code  # type: ignore[return-value]


def place_level(code: str) -> PlaceLevel:
    """The level of a place code; ValueError (bilingual) if it is not one."""
    return LEVEL_BY_LENGTH[len(_checked(code))]


def place_parent(code: str) -> str | None:
    """The enclosing place's code, or None for a county."""
    code = _checked(code)
    return code[:-3] if len(code) > 6 else None


def place_path(code: str) -> dict[PlaceLevel, str | None]:
    """The code at every level from the county down to `code`'s own (None below it):
    ``place_path("422827100")`` gives the county 422827 and the township 422827100."""
    code = _checked(code)
    return {
        level: code[:length] if len(code) >= length else None
        for length, level in LEVEL_BY_LENGTH.items()
    }


def place_within(code: str, scope: str) -> bool:
    """True when `code` is `scope` itself or lies inside it (prefix rule)."""
    return _checked(code).startswith(_checked(scope))


def level_names(levels: tuple[str, ...]) -> dict[str, str]:
    """Message parameters naming `levels` in both languages."""
    return {
        "levels_zh": "或".join(LEVEL_NAMES_ZH[level] for level in levels),
        "levels": " or ".join(levels),
    }
