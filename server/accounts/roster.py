"""The roster: every login account is a person on the county's `user:` documents.

An account (users.py, in the gateway's own SQLite file) says who may log in; its
user document (schemas/user.py, replicated to tablets) says who the person is:
name, role, scope, team and station, which the write policy and the tablets read.
`enrol` writes both, the document first: they live in two databases, so a crash
between the writes leaves a document without an account, which a re-run links,
never an account missing from the roster.

Errors are ValueError with bilingual "中文。 / English." messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas import CURRENT_VERSIONS, DocumentInvalid, place_within, validate_document
from sync.store import Store

from .users import User, UserStore

DEVICE = "admin-cli"  # the envelope's `device` of documents written by admin commands
# A user document gets a new revision only when one of these differs.
ROSTER_FIELDS = ("role", "scope", "team", "station", "display_name", "active")
_KINDS_ZH = {"team": "队伍", "station": "服务站"}
_BATCH = 500

MESSAGES: dict[str, str] = {
    "no_place": "地区 {scope} 不存在，请先添加或导入该地区。 / "
    "There is no place {scope}: add or import it first.",
    "missing": "{kind_zh} {ref} 不存在。 / There is no {kind} {ref}.",
    "wrong_type": "{ref} 不是{kind_zh}。 / {ref} is not a {kind}.",
    "outside": "{kind_zh} {ref} 属于 {place}，不在用户范围 {scope} 本级或上级。 / "
    "The {kind} {ref} belongs to {place}, neither at nor above the user's scope {scope}.",
    "display_name": "新用户须提供姓名（display_name）。 / A new user needs a display_name.",
    "twice": "用户名重复：{username}。 / The username {username} is given twice.",
    "refused": "{count} 个用户有错误，未创建任何账号。 / "
    "{count} users refused; no account was created.",
    "not_saved": "用户文档未保存：{ids}。 / User documents not saved: {ids}.",
}


class RosterError(ValueError):
    """Refused enrolments: `errors` maps each refused spec's index to its message."""

    def __init__(self, errors: Mapping[int, str]) -> None:
        self.errors = dict(errors)
        text = next(iter(self.errors.values())) if len(self.errors) == 1 else None
        super().__init__(text or MESSAGES["refused"].format(count=len(self.errors)))


def timestamp() -> str:
    """Now, as the envelope's `created_at`/`updated_at` want it (local, with offset)."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def user_document(
    username: str,
    role: str,
    scope: str,
    display_name: str,
    *,
    team: str | None = None,
    station: str | None = None,
    active: bool = True,
    author: str = "admin",
    now: str | None = None,
) -> dict:
    """A new `user:<username>` document, validated (DocumentInvalid if a field is refused)."""
    now = now or timestamp()
    doc: dict[str, Any] = {
        "_id": f"user:{username}",
        "type": "user",
        "schema_version": CURRENT_VERSIONS["user"],
        "place": scope,
        "author": f"user:{author}",
        "device": DEVICE,
        "created_at": now,
        "updated_at": now,
        "username": username,
        "display_name": display_name,
        "role": role,
        "scope": scope,
        "active": active,
    }
    if team is not None:
        doc["team"] = team
    if station is not None:
        doc["station"] = station
    return validate_document(doc)


def enrol(
    store: Store,
    users: UserStore,
    username: str,
    password: str,
    role: str,
    scope: str,
    *,
    display_name: str | None = None,
    team: str | None = None,
    station: str | None = None,
    author: str = "admin",
) -> User:
    """Put a person on the roster: their user document (new, or the existing one linked
    and updated if it differs), then their login account. A display name left out
    keeps the document's."""
    spec = dict(username=username, password=password, role=role, scope=scope,
                display_name=display_name, team=team, station=station, author=author)  # fmt: skip
    return enrol_many(store, users, [spec])[0]


def enrol_many(
    store: Store,
    users: UserStore,
    specs: Sequence[Mapping[str, Any]],
    *,
    pending: Iterable[Mapping] = (),
    progress: Callable[[int], None] | None = None,
) -> list[User]:
    """`enrol` for several people (each spec holds `enrol`'s arguments by name): every
    spec is checked first, and any refusal enrols nobody (RosterError).

    `pending` are documents saved in the same operation (an import's places, teams
    and stations): they count as existing. `progress(1)` follows each password hash.
    """
    plan = _plan(store, users, specs, pending)
    if plan.errors:
        raise RosterError(plan.errors)
    _save(store, plan.documents)
    return users.create_many(plan.accounts, progress=progress)


def check_enrolments(
    store: Store,
    users: UserStore,
    specs: Sequence[Mapping[str, Any]],
    *,
    pending: Iterable[Mapping] = (),
) -> dict[int, str]:
    """What `enrol_many` would refuse, by spec index, without writing anything."""
    return _plan(store, users, specs, pending).errors


def set_active(
    store: Store, users: UserStore, username: str, active: bool, *, author: str = "admin"
) -> bool:
    """Allow or refuse the account's logins, and set its user document's `active`.

    The account first: a deactivation must take effect even if the document write
    fails (a re-run repeats it). False when the account has no user document.
    """
    users.set_active(username, active)
    existing = _live_documents(store, [f"user:{username}"]).get(f"user:{username}")
    if existing is None:
        return False
    if existing.get("active") != active:
        doc = {**existing, "active": active, **_edit_envelope(author, timestamp())}
        store.put(validate_document(doc))
    return True


# -- checking ---------------------------------------------------------------------------------


@dataclass
class _Plan:
    documents: list[dict] = field(default_factory=list)  # new user documents or revisions
    accounts: list[dict] = field(default_factory=list)  # UserStore.create_many specs
    errors: dict[int, str] = field(default_factory=dict)


def _plan(
    store: Store, users: UserStore, specs: Sequence[Mapping[str, Any]], pending: Iterable[Mapping]
) -> _Plan:
    refs = [
        ref
        for spec in specs
        for ref in (
            f"place:{spec.get('scope')}",
            f"user:{spec.get('username')}",
            spec.get("team"),
            spec.get("station"),
        )
        if isinstance(ref, str)
    ]
    # One read for every reference of every spec: an import may hold thousands of rows.
    known = _live_documents(store, refs)
    known.update({doc["_id"]: dict(doc) for doc in pending if isinstance(doc.get("_id"), str)})
    plan, seen, now = _Plan(), set(), timestamp()
    for index, spec in enumerate(specs):
        try:
            document, account = _enrolment(users, spec, known, now)
            if account["username"] in seen:
                raise ValueError(MESSAGES["twice"].format(username=account["username"]))
        except ValueError as exc:  # DocumentInvalid included: its text is bilingual too
            plan.errors[index] = exc.reason if isinstance(exc, DocumentInvalid) else str(exc)
            continue
        seen.add(account["username"])
        plan.accounts.append(account)
        if document is not None:
            plan.documents.append(document)
    return plan


def _enrolment(
    users: UserStore, spec: Mapping[str, Any], known: Mapping[str, dict], now: str
) -> tuple[dict | None, dict]:
    """(the user document to write, or None if it is already right; the account spec)."""
    username, role, scope = spec.get("username"), spec.get("role"), spec.get("scope")
    team, station = spec.get("team"), spec.get("station")
    users.validate_new(username, spec.get("password"), role, scope, spec.get("display_name"), team)
    place = known.get(f"place:{scope}")
    if place is None or place.get("type") != "place":
        raise ValueError(MESSAGES["no_place"].format(scope=scope))
    for kind, ref in (("team", team), ("station", station)):
        if ref is not None:
            _check_reference(kind, ref, scope, known)
    existing = known.get(f"user:{username}")
    display_name = spec.get("display_name") or (existing or {}).get("display_name")
    if display_name is None:
        raise ValueError(MESSAGES["display_name"])
    author = spec.get("author") or "admin"
    new = user_document(username, role, scope, display_name, team=team, station=station,
                        author=author, now=now)  # fmt: skip
    account = {"username": username, "password": spec.get("password"), "role": role,
               "scope": scope, "display_name": display_name, "team": team}  # fmt: skip
    if existing is None:
        return new, account
    if all(existing.get(name) == new.get(name) for name in ROSTER_FIELDS):
        return None, account  # linked as it is: no new revision
    updated = {**existing, **{name: new[name] for name in ROSTER_FIELDS if name in new}}
    for name in ("team", "station"):
        if name not in new:
            updated.pop(name, None)
    updated.update(place=scope, **_edit_envelope(author, now))
    return validate_document(updated), account


def _check_reference(kind: str, ref: str, scope: str, known: Mapping[str, dict]) -> None:
    """A team or station must exist and sit at the user's scope or above it."""
    names = {"kind": kind, "kind_zh": _KINDS_ZH[kind], "ref": ref, "scope": scope}
    doc = known.get(ref)
    if doc is None:
        raise ValueError(MESSAGES["missing"].format(**names))
    if doc.get("type") != kind:
        raise ValueError(MESSAGES["wrong_type"].format(**names))
    place = doc.get("place")
    if not isinstance(place, str) or not place_within(scope, place):
        raise ValueError(MESSAGES["outside"].format(place=place, **names))


# -- storage ----------------------------------------------------------------------------------


def _edit_envelope(author: str, now: str) -> dict[str, str]:
    return {"author": f"user:{author}", "device": DEVICE, "updated_at": now}


def _live_documents(store: Store, ids: Sequence[str]) -> dict[str, dict]:
    """The documents of `ids` that exist and are not deleted."""
    if not ids:
        return {}
    rows = store.all_docs(keys=sorted(set(ids)), include_docs=True)
    return {row["id"]: row["doc"] for row in rows if row.get("doc")}


def _save(store: Store, docs: list[dict]) -> None:
    failed = []
    for start in range(0, len(docs), _BATCH):
        rows = store.bulk_docs(docs[start : start + _BATCH])
        failed += [row["id"] for row in rows if not row.get("ok")]
    if failed:
        raise ValueError(MESSAGES["not_saved"].format(ids=", ".join(failed[:5])))
