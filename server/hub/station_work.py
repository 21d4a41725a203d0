"""What a hub has to send the county: the documents its own gateway accepted from the
station's tablets since its last good round with the county began (a round sends
everything written before it starts). Only those: what the hub pulled from the county
is the county's already, and offering it back would make the county judge it again as
the lead's push (a document that has left the station's scope since would be refused,
quarantined and noticed for nothing)."""

from __future__ import annotations

from ..services import Services
from .upstream import read_status


def last_good_round_start(status: dict) -> float:
    """When the hub's last good round with the county began (0: never), from its status."""
    return float(status.get("last_success_started") or 0.0)


def written_since(found: Services, since: float) -> list[tuple[str, str, float]]:
    """(document id, who pushed it, when) of each document the gateway accepted at or
    after `since`, newest first, from the write log."""
    with found.db.read() as conn:
        return conn.execute(
            "SELECT doc_id, username, MAX(at) FROM write_log WHERE outcome = 'accepted'"
            " AND at >= ? GROUP BY doc_id ORDER BY MAX(at) DESC",
            (since,),
        ).fetchall()


def to_send(found: Services) -> list[str]:
    """The ids the next round pushes."""
    since = last_good_round_start(read_status(found.store))
    return [doc_id for doc_id, _, _ in written_since(found, since)]
