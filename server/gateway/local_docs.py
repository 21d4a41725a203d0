"""Each user's `_local` documents (replication checkpoints), kept in the ledger store.

They are per user: two tablets replicating with the same logical ``/db/`` must
never read or overwrite each other's checkpoints, and a checkpoint may name
documents the other user may not see. Each is the ledger's own `_local` document
``checkpoint:<area>:<username>:<id>`` (usernames hold no ':'), so every gateway
process over the same stores answers a tablet's checkpoint alike.
"""

from __future__ import annotations

from flask import Response, request

from sync import arguments
from sync.errors import Conflict, NotFound

from ..accounts.auth import current_user
from ..http_io import json_body, reply
from ..services import services
from .ledger_index import checkpoint_id


def local_doc(local_id: str, area: str = "db") -> Response:
    try:
        return _local_doc(arguments.local_id(local_id), area)
    except Conflict:  # the ledger's reason names the stored id: answered as CouchDB does
        raise Conflict("Document update conflict") from None
    except NotFound:
        raise NotFound("missing") from None


def _local_doc(local_id: str, area: str) -> Response:
    stored_id = checkpoint_id(area, current_user().username, local_id)
    ledger = services().ledger
    if request.method == "GET":
        doc = ledger.get_local(stored_id)
        return reply({**doc, "_id": f"_local/{local_id}"})
    given = request.args.get("rev")
    if request.method == "DELETE":
        if given is None:
            ledger.get_local(stored_id)  # NotFound when there is none, as CouchDB answers
            raise Conflict("Document update conflict")
        ledger.delete_local(stored_id, given)
        return reply({"ok": True, "id": f"_local/{local_id}", "rev": "0-0"})
    doc = json_body()
    _, claimed, body = arguments.local_doc(
        {**doc, "_id": local_id} if isinstance(doc, dict) else doc
    )
    rev = claimed if claimed is not None else given
    new_rev = ledger.put_local({**body, "_id": stored_id, **({"_rev": rev} if rev else {})})
    return reply({"ok": True, "id": f"_local/{local_id}", "rev": new_rev}, 201)
