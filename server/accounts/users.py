"""Login accounts: who may sync and sign in, with what role and place scope.

Kept as documents in the accounts store (server/services.py), never among the
replicated documents: user documents travel to tablets, password hashes must not.
Every gateway process over the same stores sees the same accounts, and a station
hub receives its station's (server/hub/accounts.py). Passwords are hashed with
scrypt (memory-hard, in the standard library) into a self-describing string, so
the parameters can be raised later without invalidating stored hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from schemas import is_place_code
from schemas.user import ROLES as _SCHEMA_ROLES
from schemas.user import USERNAME_PATTERN
from sync.errors import Conflict, NotFound
from sync.store import Store

# One source of truth: the same roles as user documents and the table's CHECK.
ROLES: tuple[str, ...] = _SCHEMA_ROLES
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # bounds the work one login attempt can cause
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # about 50 ms and 16 MiB per hash
_SALT_BYTES, _KEY_BYTES = 16, 32
_USERNAME_RE = re.compile(USERNAME_PATTERN)

MESSAGES: dict[str, str] = {
    "username": "用户名须为 2-64 个小写字母、数字或 _ . - 字符。 / "
    "Username must be 2-64 characters from a-z 0-9 _ . -.",
    "role": "角色无效，可选：{roles}。 / Invalid role; must be one of: {roles}.",
    "scope": "管辖范围须为 6、9、12 或 15 位地区代码（县、乡镇、村、网格）。 / "
    "Scope must be a place code of 6, 9, 12 or 15 digits (county, township, village, grid).",
    "weak_password": "密码至少需要 {min} 个字符。 / Password must be at least {min} characters.",
    "long_password": "密码不能超过 {max} 个字符。 / Password must be at most {max} characters.",
    "text": "{field} 须为不超过 {max} 个字符的单行文本。 / "
    "{field} must be one line of at most {max} characters.",
    "duplicate": "用户名已存在。 / Username already exists.",
    "unknown": "用户不存在。 / No such user.",
    "busy": "账号正被同时修改，请重试。 / The account is being changed elsewhere; try again.",
}


def message(key: str, **params: object) -> str:
    """The bilingual "中文。 / English." message `key`."""
    return MESSAGES[key].format(**params)


@dataclass(frozen=True)
class User:
    username: str
    role: str
    scope: str  # a place code; the user sees this place and everything inside it
    display_name: str | None
    team: str | None  # a team document id, e.g. "team:422827100001"
    active: bool


def hash_password(password: str) -> str:
    """A new scrypt hash: "scrypt$16384$8$1$<salt b64>$<hash b64>"."""
    salt = os.urandom(_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; False for any malformed hash."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:  # wrong field count, bad base64 or parameters scrypt refuses
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem above the 32 MiB default leaves room for raising n or r later.
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * 1024 * 1024,
        dklen=_KEY_BYTES,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class UserStore:
    """Accounts as `account:<username>` documents in the accounts store (never the
    county's replicated documents: those reach tablets, password hashes must not).
    Raises ValueError with a bilingual message on bad input."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._dummy_hash: str | None = None  # made on first need: ~50 ms

    def validate_new(
        self,
        username: str,
        password: str,
        role: str,
        scope: str,
        display_name: str | None = None,
        team: str | None = None,
    ) -> None:
        """Check a new account without saving it (import validates every row first)."""
        if not isinstance(username, str) or not _USERNAME_RE.fullmatch(username):
            raise ValueError(message("username"))
        if role not in ROLES:
            raise ValueError(message("role", roles=", ".join(ROLES)))
        if not is_place_code(scope):
            raise ValueError(message("scope"))
        check_password_strength(password)
        _check_text("display_name", display_name, 50)
        _check_text("team", team, 200)
        if self.get(username) is not None:
            raise ValueError(message("duplicate"))

    def create(
        self,
        username: str,
        password: str,
        role: str,
        scope: str,
        display_name: str | None = None,
        team: str | None = None,
    ) -> User:
        """Save a new active account; ValueError if any field is refused or the name is taken."""
        spec = {"username": username, "password": password, "role": role, "scope": scope,
                "display_name": display_name, "team": team}  # fmt: skip
        return self.create_many([spec])[0]

    def create_many(
        self, specs: Sequence[dict], progress: Callable[[int], None] | None = None
    ) -> list[User]:
        """Save several accounts: all of them or, on any error, none.

        Each spec holds `create`'s arguments. Hashing is the slow part (about
        50 ms each); `progress(1)` is called after each hash.
        """
        for spec in specs:
            self.validate_new(**spec)
        if len({spec["username"] for spec in specs}) < len(specs):
            raise ValueError(message("duplicate"))
        docs = []
        for spec in specs:
            docs.append(
                account_document(spec["username"], hash_password(spec["password"]), spec["role"],
                                 spec["scope"], spec.get("display_name"), spec.get("team"),
                                 active=True, created_at=time.time())
            )  # fmt: skip
            if progress is not None:
                progress(1)
        answers = self.store.bulk_docs(docs)
        written = [
            (doc["_id"], a["rev"]) for doc, a in zip(docs, answers, strict=True) if "rev" in a
        ]
        if len(written) < len(docs):  # a concurrent create took a name: undo the rest
            for doc_id, rev in written:
                self.store.put({"_id": doc_id, "_rev": rev, "_deleted": True})
            raise ValueError(message("duplicate"))
        return [self._require(spec["username"]) for spec in specs]

    def get(self, username: str) -> User | None:
        """The account, active or not; None if there is none."""
        row = self._row(username)
        return None if row is None else row[0]

    def credentials(self, username: str) -> tuple[User, str] | None:
        """The account and its stored password hash (for auth's session check)."""
        return self._row(username)

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user whose password this is, else None.

        Unknown names cost one scrypt hash like a wrong password does, so response
        times do not tell which usernames exist.
        """
        row = self._row(username) if isinstance(username, str) else None
        if row is None:
            verify_password(password, self._dummy())
            return None
        user, stored = row
        if not verify_password(password, stored) or not user.active:
            return None
        return user

    def set_password(self, username: str, password: str) -> None:
        """Replace the password; existing web sessions of the user stop working."""
        check_password_strength(password)
        self._update(username, password_hash=hash_password(password))

    def set_active(self, username: str, active: bool) -> None:
        """Allow or refuse the account's logins (inactive accounts keep their history)."""
        self._update(username, active=bool(active))

    def list_users(self) -> list[User]:
        """Every account, active or not, by username."""
        return [_user(doc) for doc in self.documents()]

    def documents(self) -> list[dict]:
        """Every account document, password hash included (for a station's hub only)."""
        rows = self.store.all_docs(
            start_key=ACCOUNT_PREFIX, end_key=ACCOUNT_PREFIX + "\ufff0", include_docs=True
        )
        return [row["doc"] for row in rows if _is_account(row.get("doc"))]

    @staticmethod
    def account(doc: dict) -> User:
        """The User an account document describes."""
        return _user(doc)

    def _update(self, username: str, **changes: object) -> None:
        for _ in range(5):  # another process may change the account between read and write
            try:
                doc = self.store.get(account_id(username))
            except NotFound:
                raise ValueError(message("unknown")) from None
            try:
                self.store.put({**doc, **changes})
                return
            except Conflict:
                continue
        raise ValueError(message("busy"))

    def _row(self, username: str) -> tuple[User, str] | None:
        if not isinstance(username, str) or not _USERNAME_RE.fullmatch(username):
            return None
        try:
            doc = self.store.get(account_id(username))
        except NotFound:
            return None
        return (_user(doc), doc["password_hash"]) if _is_account(doc) else None

    def _require(self, username: str) -> User:
        user = self.get(username)
        if user is None:
            raise ValueError(message("unknown"))
        return user

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = hash_password(os.urandom(16).hex())
        return self._dummy_hash


ACCOUNT_PREFIX = "account:"


def account_id(username: str) -> str:
    return ACCOUNT_PREFIX + username


def account_document(
    username: str, password_hash: str, role: str, scope: str, display_name: str | None,
    team: str | None, *, active: bool, created_at: float,
) -> dict:  # fmt: skip
    """An account as the accounts store keeps it."""
    return {"_id": account_id(username), "type": "account", "username": username,
            "password_hash": password_hash, "role": role, "scope": scope,
            "display_name": display_name, "team": team, "active": active,
            "created_at": created_at}  # fmt: skip


def _is_account(doc: object) -> bool:
    return isinstance(doc, dict) and doc.get("type") == "account" and "password_hash" in doc


def check_password_strength(password: str) -> None:
    """ValueError (bilingual) unless `password` is 8-1024 characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(message("weak_password", min=MIN_PASSWORD_LENGTH))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(message("long_password", max=MAX_PASSWORD_LENGTH))


def _check_text(field: str, value: str | None, max_length: int) -> None:
    if value is None:
        return
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > max_length
        or any(ord(c) < 32 or c == "\x7f" for c in value)
    ):
        raise ValueError(message("text", field=field, max=max_length))


def _user(doc: dict) -> User:
    return User(
        doc["username"], doc["role"], doc["scope"], doc.get("display_name"), doc.get("team"),
        bool(doc.get("active")),
    )  # fmt: skip
