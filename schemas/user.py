"""User 用户: a person's role and place scope.

No password field: user documents replicate to tablets, so password hashes
live in the server's own storage, never here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, pre_load

from .envelope import ReferenceEnvelope
from .fields import PERSONAL, Bool, Choice, PlaceCode, Text, Token
from .household import PHONE_PATTERN
from .messages import msg

ROLES: tuple[str, ...] = ("volunteer", "station_lead", "county_staff", "admin")
USERNAME_PATTERN = r"[a-z0-9_.-]{2,64}"


class User(ReferenceEnvelope):
    doc_type = "user"
    version = 1

    username = Token(USERNAME_PATTERN, "username_invalid", required=True)
    display_name = Text(max_length=50, required=True)
    role = Choice(ROLES, required=True)
    scope = PlaceCode(required=True)
    phone = Token(PHONE_PATTERN, "phone_invalid", allow_none=True, metadata=PERSONAL)
    active = Bool(required=True)

    @pre_load
    def _refuse_passwords(self, data: Any, **kwargs: Any) -> Any:
        # A specific message beats "unknown field" for this one dangerous mistake.
        if isinstance(data, Mapping):
            found = {
                key: [msg("password_forbidden")]
                for key in data
                if isinstance(key, str) and "password" in key.lower()
            }
            if found:
                raise ValidationError(found)
        return data
