"""Each user's `_local` documents (replication checkpoints), kept in the gateway's db.

They are per user: two tablets replicating with the same logical ``/db/`` must
never read or overwrite each other's checkpoints, and a checkpoint may name
documents the other user may not see.
"""

from __future__ import annotations

import json

from flask import Response, request

from sync import arguments
from sync.documents import dump_json
from sync.errors import Conflict, NotFound

from ..accounts.auth import current_user
from ..http_io import json_body, reply
from ..services import services


def local_doc(local_id: str) -> Response:
    local_id = arguments.local_id(local_id)
    username = current_user().username
    db = services().db
    if request.method == "GET":
        with db.read() as conn:
            row = conn.execute(
                "SELECT rev, body FROM local_docs WHERE username = ? AND local_id = ?",
                (username, local_id),
            ).fetchone()
        if row is None:
            raise NotFound("missing")
        return reply({"_id": f"_local/{local_id}", "_rev": f"0-{row[0]}", **json.loads(row[1])})
    given = request.args.get("rev")
    body: dict = {}
    if request.method == "PUT":
        doc = json_body()
        _, claimed, body = arguments.local_doc(
            {**doc, "_id": local_id} if isinstance(doc, dict) else doc
        )
        given = claimed if claimed is not None else given
    with db.write() as conn:
        row = conn.execute(
            "SELECT rev FROM local_docs WHERE username = ? AND local_id = ?", (username, local_id)
        ).fetchone()
        current = f"0-{row[0]}" if row else None
        if request.method == "DELETE":
            if row is None:
                raise NotFound("missing")
            if given != current:
                raise Conflict("Document update conflict")
            conn.execute(
                "DELETE FROM local_docs WHERE username = ? AND local_id = ?", (username, local_id)
            )
            return reply({"ok": True, "id": f"_local/{local_id}", "rev": "0-0"})
        if given != current:
            raise Conflict("Document update conflict")
        rev = (row[0] if row else 0) + 1
        conn.execute(
            "INSERT OR REPLACE INTO local_docs VALUES (?, ?, ?, ?)",
            (username, local_id, rev, dump_json(body)),
        )
    return reply({"ok": True, "id": f"_local/{local_id}", "rev": f"0-{rev}"}, 201)
