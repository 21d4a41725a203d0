"""Who may read and write what: the one rule, by role, place scope and authorship.

Every path that reads or writes a document asks here (the gateway's endpoints, the
push pipeline, the staff views); nothing else decides. The place test is the
prefix rule of `schemas.places.place_within`, the levels those of `schemas.places`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import SERVER_ONLY_TYPES, is_place_code, msg, place_within, server_owned_fields

from .accounts.users import User
from .gateway.validation import Verdict, verdict

if TYPE_CHECKING:  # the index imports this module's tables
    from .gateway.scope import IndexEntry

FIELD_TYPES = frozenset({"patrol", "water_source", "home_visit", "household"})
REFERENCE_WRITE_TYPES = frozenset({"place", "team", "station", "user"})
PERSONAL_TYPES = frozenset({"home_visit", "household"})  # hold vulnerable people's data
# Which roles may write which types.
WRITABLE: dict[str, frozenset[str]] = {
    "volunteer": FIELD_TYPES,
    "station_lead": FIELD_TYPES,
    "county_staff": FIELD_TYPES,
    "admin": REFERENCE_WRITE_TYPES,
}
FIELD_ROLES = frozenset({"volunteer", "station_lead"})  # may not touch server-owned fields
PERSONAL_ROLES = frozenset({"volunteer", "station_lead", "county_staff"})  # not IT admins
# The refusal of a write to a document outside the caller's scope: it names no place.
HIDDEN_DOCUMENT = "该记录不在你的负责范围内。 / The document is outside your scope."


def in_scope(place: object, scope: str) -> bool:
    """Whether `place` is a place code at or inside `scope` (anything else is nowhere)."""
    return is_place_code(place) and place_within(place, scope)  # type: ignore[arg-type]


def reads_personal(user: User) -> bool:
    """Whether `user`'s role may read home visits and households at all."""
    return user.role in PERSONAL_ROLES


def may_read(user: User, entry: IndexEntry) -> bool:
    """Inside the caller's place subtree, and personal data only to the roles allowed."""
    return in_scope(entry.place, user.scope) and (not entry.personal or reads_personal(user))


def refusals(
    doc: dict,
    user: User,
    existing: IndexEntry | None,
    current: dict | None,
    judged: Verdict | None = None,
) -> list[str]:
    """Every reason (bilingual) to refuse `user`'s write of `doc`; empty means accept it.

    `existing` is the index entry of the document, `current` its winning revision
    (None when there is none), `judged` the schemas' verdict when already known.
    """
    doc_id = str(doc.get("_id"))
    doc_type = doc.get("type") if not doc.get("_deleted") else None
    if not isinstance(doc_type, str):  # a list or object is no type (and is unhashable)
        doc_type = None
    doc_type = doc_type or (existing.doc_type if existing else doc_id.partition(":")[0])
    if doc_type in SERVER_ONLY_TYPES or doc_type not in WRITABLE[user.role]:
        return [msg("push_type_forbidden", role=user.role, type=doc_type)]
    if existing is not None and existing.place and not in_scope(existing.place, user.scope):
        # Judged as if it did not exist, so the refusal names only what the caller sent,
        # never where the document is; a push that would then pass is still refused.
        return refusals(doc, user, None, None, judged) or [HIDDEN_DOCUMENT]
    if doc.get("_deleted") and not _has_body(doc):
        return []  # a bare tombstone (PouchDB's remove) of a document in scope
    judged = judged or verdict(doc)
    if judged.problems:
        return list(judged.problems)
    place = judged.place
    if doc.get("_deleted") is True and not is_place_code(place):
        # A tombstone is validated by its id only: without a place of its own it stays where
        # the document was (the index keeps that place), as a bare tombstone does.
        return []
    if not in_scope(place, user.scope):
        return [msg("push_out_of_scope", place=place)]
    if user.role in FIELD_ROLES:
        for name in sorted(server_owned_fields(doc_type)):
            if doc.get(name) != (current or {}).get(name):
                return [msg("push_server_owned", field=name)]
    return []


def _has_body(doc: dict) -> bool:
    return any(not key.startswith("_") for key in doc)
