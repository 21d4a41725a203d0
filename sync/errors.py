"""CouchDB-shaped errors: every store failure carries an HTTP status, a CouchDB
error name and a human reason, so an HTTP gateway can pass it on unchanged and a
replicator can tell a per-document refusal from a broken link."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error a `Store` raises on purpose."""

    status: int = 500
    error: str = "unknown_error"

    def __init__(self, reason: str, *, doc_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.doc_id = doc_id

    def as_row(self) -> dict:
        """The per-document form CouchDB uses in `_bulk_docs` answers."""
        row = {"error": self.error, "reason": self.reason}
        if self.doc_id is not None:
            row = {"id": self.doc_id, **row}
        return row

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.error!r}, {self.reason!r})"


class BadRequest(StoreError):
    status, error = 400, "bad_request"


class Unauthorized(StoreError):
    status, error = 401, "unauthorized"


class Forbidden(StoreError):
    status, error = 403, "forbidden"


class NotFound(StoreError):
    status, error = 404, "not_found"


class Conflict(StoreError):
    status, error = 409, "conflict"


class PreconditionFailed(StoreError):
    status, error = 412, "precondition_failed"


class TooLarge(StoreError):
    status, error = 413, "too_large"


class PeerUnavailable(StoreError):
    """The peer could not be reached or answered 5xx after all retries."""

    status, error = 503, "unavailable"


_BY_ERROR = {
    cls.error: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PreconditionFailed,
        TooLarge,
        PeerUnavailable,
    )
}


_BY_ERROR["missing_stub"] = PreconditionFailed  # CouchDB's name for a stub with no data


def from_row(row: dict, status: int | None = None) -> StoreError:
    """Rebuild an error from a CouchDB error body (`{"error", "reason"}`)."""
    cls = _BY_ERROR.get(row.get("error", ""), StoreError)
    err = cls(str(row.get("reason", row.get("error", "unknown error"))), doc_id=row.get("id"))
    if cls is StoreError:
        err.error = str(row.get("error", "unknown_error"))
        err.status = status or 500
    return err
