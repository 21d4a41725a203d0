"""Who may read and write what: the one rule, by role, place scope and authorship.

Every path that reads or writes a document asks here (the gateway's endpoints, the
push pipeline, the staff views); nothing else decides. The place test is the prefix
rule of `schemas.places.place_within`.

Reads: a document is readable inside the caller's place subtree; home visits and
households (personal data) never reach IT admins. Accounts are no document of the
county's: only a station lead's hub receives them, its station's people's
(`may_read_account`).

Writes (`judge`), in order:
1. The role must write the type: field roles and county staff field records and
   households, admins reference data (places, teams, stations, users); nobody the
   server's own types (rejection notices).
2. A document the caller may not see is judged as if it did not exist, so a refusal
   never tells where it is.
3. Changing or deleting a record (patrol, water-source find, home visit) is for its
   author, its participants (a patrol's `participants`, a visit's `volunteers`), and
   the station lead and county staff of its place; a household, shared by design, for
   any field role in scope. Once county staff approved a record, the field roles can
   no longer change or delete it.
4. The schemas' verdict; the place inside the caller's scope; server-owned fields
   (review, arrival time) untouched by field roles.
5. The author of a new record is the caller's own `user:` document, or, for a station
   lead, one of their station's volunteers (a hub forwards the station's work). An
   edit keeps the author. Participants must be users of the record's team or station.
6. References (`household`, `station`, `team`, `place`) that the server holds must be
   of the right type and in the caller's scope (a station, team or place may also be
   above it: a grid volunteer's station sits at the village). A reference to a
   document the server has not seen is accepted and reported as unresolved: offline
   work arrives in any order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from schemas import SERVER_ONLY_TYPES, is_place_code, msg, place_within, server_owned_fields

from .accounts.users import User

if TYPE_CHECKING:  # the gateway imports this module
    from .gateway.scope import IndexEntry, Member
    from .gateway.validation import Verdict

RECORD_TYPES = frozenset({"patrol", "water_source", "home_visit"})  # made in the field
FIELD_TYPES = RECORD_TYPES | {"household"}
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
# Who took part in a record, besides its author.
PARTICIPANT_FIELDS: dict[str, str] = {"patrol": "participants", "home_visit": "volunteers"}
# Fields naming another document, and its type.
REFERENCE_FIELDS: dict[str, str] = {
    "household": "household",
    "station": "station",
    "team": "team",
}
# The refusal of a write to a document outside the caller's scope: it names no place.
HIDDEN_DOCUMENT = "该记录不在你的负责范围内。 / The document is outside your scope."


def in_scope(place: object, scope: str) -> bool:
    """Whether `place` is a place code at or inside `scope` (anything else is nowhere)."""
    return isinstance(place, str) and _within(place, scope)


@functools.lru_cache(maxsize=8192)  # asked several times for every pushed document
def _within(place: str, scope: str) -> bool:
    return is_place_code(place) and place_within(place, scope)


def reads_personal(user: User) -> bool:
    """Whether `user`'s role may read home visits and households at all."""
    return user.role in PERSONAL_ROLES


def may_read(user: User, entry: IndexEntry) -> bool:
    """Inside the caller's place subtree, and personal data only to the roles allowed."""
    return in_scope(entry.place, user.scope) and (not entry.personal or reads_personal(user))


# Who a station's hub lets sign in: its people, whose accounts its lead's hub receives.
STATION_ACCOUNT_ROLES = frozenset({"volunteer", "station_lead"})


def may_read_account(user: User, account: User) -> bool:
    """Accounts (with their password hashes) go only to a station lead's hub, and only
    the station's people's: the volunteers and leads whose scope is inside the lead's.
    No other role reads accounts by any endpoint."""
    return (
        user.role == "station_lead"
        and account.role in STATION_ACCOUNT_ROLES
        and in_scope(account.scope, user.scope)
    )


def user_id(user: User) -> str:
    """The caller's own `user:` document id."""
    return f"user:{user.username}"


@dataclass(frozen=True)
class Facts:
    """What the server knows that one write is judged against."""

    existing: IndexEntry | None = None  # the document's index entry
    current: dict | None = None  # its winning revision, when it is live
    members: Mapping[str, Member] = field(default_factory=dict)  # roster, by user id
    references: Mapping[str, IndexEntry] = field(default_factory=dict)  # by document id


@dataclass(frozen=True)
class Judgement:
    """The policy's answer: `reasons` (bilingual) to refuse, else accepted, with the
    references to documents the server has not seen yet, as (field, id)."""

    reasons: list[str]
    unresolved: list[tuple[str, str]] = field(default_factory=list)


def judge(doc: dict, user: User, facts: Facts, judged: Verdict) -> Judgement:
    """Whether `user` may write `doc` (a revision or a tombstone), given the schemas'
    verdict on it; see the module docstring."""
    existing = facts.existing
    doc_type = _doc_type(doc, existing)
    if doc_type in SERVER_ONLY_TYPES or doc_type not in WRITABLE[user.role]:
        return Judgement([msg("push_type_forbidden", role=user.role, type=doc_type)])
    if existing is not None and existing.place and not in_scope(existing.place, user.scope):
        # Judged as if it did not exist, so the refusal names only what the caller sent,
        # never where the document is; a push that would then pass is still refused.
        alone = judge(doc, user, Facts(members=facts.members), judged)
        return Judgement(alone.reasons or [HIDDEN_DOCUMENT])
    current = facts.current if existing is not None and not existing.deleted else None
    if current is not None and (refused := _change_refused(user, doc_type, existing, current)):
        return Judgement(refused)
    if doc.get("_deleted") and not _has_body(doc):
        return Judgement([])  # a bare tombstone (PouchDB's remove) the caller may make
    if judged.problems:
        return Judgement(list(judged.problems))
    place = judged.place
    if doc.get("_deleted") is True and not is_place_code(place):
        # A tombstone is validated by its id only: without a place of its own it stays where
        # the document was (the index keeps that place), as a bare tombstone does.
        return Judgement([])
    if not in_scope(place, user.scope):
        return Judgement([msg("push_out_of_scope", place=place)])
    if user.role in FIELD_ROLES:
        for name in sorted(server_owned_fields(doc_type)):
            if doc.get(name) != (current or {}).get(name):
                return Judgement([msg("push_server_owned", field=name)])
    if doc_type not in FIELD_TYPES or doc.get("_deleted"):
        return Judgement([])
    reasons = _authorship(doc, user, current, facts.members)
    reasons += _participants(doc, doc_type, facts.members)
    found, unresolved = _references(doc, user, facts.references)
    return Judgement(reasons + found, unresolved if not reasons and not found else [])


def _doc_type(doc: dict, existing: IndexEntry | None) -> str:
    doc_type = doc.get("type") if not doc.get("_deleted") else None
    if not isinstance(doc_type, str):  # a list or object is no type (and is unhashable)
        doc_type = None
    return doc_type or (existing.doc_type if existing else str(doc.get("_id")).partition(":")[0])


def _change_refused(user: User, doc_type: str, existing: IndexEntry, current: dict) -> list[str]:
    """Why `user` may not change or delete the live document `current`, if they may not."""
    if doc_type not in FIELD_TYPES:
        return []  # reference data: the type and the scope decide
    if user.role in FIELD_ROLES and _approved(current):
        return [msg("push_approved")]
    if doc_type not in RECORD_TYPES or user.role != "volunteer":
        return []  # households are shared; leads and staff of the place (in scope) may
    own = user_id(user)
    taking_part = current.get(PARTICIPANT_FIELDS.get(doc_type, ""))
    if current.get("author") == own or (isinstance(taking_part, list) and own in taking_part):
        return []
    return [msg("push_not_yours")]


def _approved(current: dict) -> bool:
    review = current.get("review")
    return isinstance(review, dict) and review.get("state") == "approved"


def _authorship(
    doc: dict, user: User, current: dict | None, members: Mapping[str, Member]
) -> list[str]:
    """The author of a new record is the caller (or a lead's volunteer); an edit keeps it."""
    author = doc.get("author")
    if current is not None:
        return [] if author == current.get("author") else [msg("push_author_changed")]
    own = user_id(user)
    me = members.get(own)
    if me is None:
        return [msg("push_no_roster", user=own)]
    if author == own:
        return []
    if user.role == "station_lead":
        theirs = members.get(str(author))
        if theirs is not None and theirs.role == "volunteer" and _same_unit(theirs, me):
            return []
        return [msg("push_author_not_station", author=author)]
    return [msg("push_author_not_caller", expected=own)]


def _same_unit(member: Member, lead: Member) -> bool:
    """Whether `member` belongs to `lead`'s station or team."""
    return (lead.station is not None and member.station == lead.station) or (
        lead.team is not None and member.team == lead.team
    )


def _participants(doc: dict, doc_type: str, members: Mapping[str, Member]) -> list[str]:
    """Everyone named as taking part must be a user of the record's team or station."""
    name = PARTICIPANT_FIELDS.get(doc_type)
    people = doc.get(name) if name else None
    if not isinstance(people, list):
        return []
    team, station = doc.get("team"), doc.get("station")
    for person in people:
        member = members.get(person) if isinstance(person, str) else None
        if member is None or not (
            (team is not None and member.team == team)
            or (station is not None and member.station == station)
        ):
            return [msg("push_not_member", field=name, user=person)]
    return []


def _references(
    doc: dict, user: User, references: Mapping[str, IndexEntry]
) -> tuple[list[str], list[tuple[str, str]]]:
    """(reasons to refuse, references to documents not seen yet) of `doc`'s references."""
    reasons: list[str] = []
    unresolved: list[tuple[str, str]] = []
    for name, ref_id, expected in references_of(doc):
        entry = references.get(ref_id)
        if entry is None or entry.deleted:
            unresolved.append((name, ref_id))
        elif entry.doc_type != expected:
            reasons.append(msg("push_reference_type", field=name, ref=ref_id, expected=expected))
        elif not (
            in_scope(entry.place, user.scope)
            # A station, team or place above the caller's scope is theirs too.
            or (expected != "household" and in_scope(user.scope, entry.place))
        ):
            reasons.append(msg("push_reference_out_of_scope", field=name, ref=ref_id))
    return reasons, unresolved


def references_of(doc: Mapping) -> Iterable[tuple[str, str, str]]:
    """(field, referenced id, expected type) of every reference a field record makes."""
    for name, expected in REFERENCE_FIELDS.items():
        value = doc.get(name)
        if isinstance(value, str):
            yield name, value, expected
    place = doc.get("place")
    if is_place_code(place):
        yield "place", f"place:{place}", "place"


def people_of(doc: Mapping) -> list[str]:
    """The user ids a field record names: its author and those taking part."""
    people = [doc.get("author")]
    name = PARTICIPANT_FIELDS.get(str(doc.get("type")))
    if name and isinstance(doc.get(name), list):
        people += doc[name]
    return [person for person in people if isinstance(person, str)]


def _has_body(doc: dict) -> bool:
    return any(not key.startswith("_") for key in doc)
