"""The station's accounts on its hub: a mirror of what the county's `/accounts/` gives
the lead (server/accounts/station_accounts.py), so the station's people sign in at the
hub with the county out of reach.

The county decides: each round the hub takes the whole list (a station has tens of
people), writes what changed, and deletes the mirrored accounts the county no longer
lists for the station (moved away, or deleted). Accounts made on the hub itself are
never touched. A password changed or an account deactivated at the county holds at
the hub from its next round with the county.
"""

from __future__ import annotations

from sync.errors import Conflict
from sync.store import Store

from ..accounts.users import ACCOUNT_PREFIX

MIRRORED = "from_county"  # marks an account the hub holds because the county listed it


def accounts_url(county_db_url: str) -> str:
    """The county's /accounts beside its /db: https://h/db -> https://h/accounts."""
    base = county_db_url.rstrip("/")
    if not base.endswith("/db"):
        raise ValueError("the county's address ends in /db, e.g. https://county.example/db")
    return base[: -len("/db")] + "/accounts"


def mirror_accounts(county: Store, hub: Store) -> int:
    """Make the hub's mirrored accounts what `county` lists; how many it changed."""
    listed = {
        row["id"]: _content(row["doc"])
        for row in county.all_docs(include_docs=True)
        if row["id"].startswith(ACCOUNT_PREFIX)
    }
    held = {
        row["id"]: row["doc"]
        for row in hub.all_docs(
            start_key=ACCOUNT_PREFIX, end_key=ACCOUNT_PREFIX + "\ufff0", include_docs=True
        )
    }
    changes = []
    for doc_id, content in listed.items():
        mine = held.get(doc_id)
        if mine is None:
            changes.append({**content, "_id": doc_id})
        elif _content(mine) != content:
            changes.append({**content, "_id": doc_id, "_rev": mine["_rev"]})
    for doc_id, mine in held.items():
        if doc_id not in listed and mine.get(MIRRORED):
            changes.append({"_id": doc_id, "_rev": mine["_rev"], "_deleted": True})
    answers = hub.bulk_docs(changes) if changes else []
    failed = [a for a in answers if "error" in a]
    if failed:  # an account changed on the hub meanwhile: the next round mends it
        raise Conflict(f"{len(failed)} accounts changed on the hub during the mirror")
    return len(changes)


def _content(doc: dict) -> dict:
    return {**{k: v for k, v in doc.items() if not k.startswith("_")}, MIRRORED: True}
