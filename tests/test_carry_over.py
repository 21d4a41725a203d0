"""A data directory of the version before the shared stores (accounts, quarantine,
pushes refused whole and checkpoints in gateway.sqlite) is carried into the accounts and
ledger stores on first start, once, nothing lost; its old tables stay, renamed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from server.accounts.users import hash_password
from server.database import GATEWAY_FILE, GATEWAY_MIGRATIONS
from server.gateway.ledger_index import checkpoint_id
from server.services import open_services
from sync.sqlite_database import SqliteDatabase

SHARED_STORES = 4  # the migration that moved them is the fourth


def an_earlier_gateway_file(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    db = SqliteDatabase(str(data_dir / GATEWAY_FILE), GATEWAY_MIGRATIONS[: SHARED_STORES - 1])
    now = time.time()
    with db.write() as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash, role, scope, display_name, team,"
            " active, created_at) VALUES ('chen', ?, 'county_staff', '422827', '陈科', NULL, 1, ?)",
            (hash_password("an old password"), now),
        )
        conn.execute(
            "INSERT INTO quarantine (doc_id, rev, body, reasons, username, device, received_at)"
            " VALUES ('patrol:1', '1-a', ?, ?, 'chen', 'tablet-1', ?)",
            (json.dumps({"_id": "patrol:1", "place": "422827100001"}),
             json.dumps(["缺少字段。 / A field is missing."]), now),
        )  # fmt: skip
        conn.execute(
            "INSERT INTO refused_pushes (username, device, at, documents, refused, status,"
            " reasons) VALUES ('chen', 'tablet-1', ?, 500, 200, 413, ?)",
            (now, json.dumps([["缺少字段。 / A field is missing.", 200]])),
        )
        conn.execute(
            "INSERT INTO local_docs VALUES ('chen', 'checkpoint-1', 3, ?)",
            (json.dumps({"last_seq": 42}),),
        )
    db.close()


def test_an_earlier_data_directory_is_carried_over_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "county"
    an_earlier_gateway_file(data_dir)
    for _ in range(2):  # a second start carries nothing twice
        found = open_services({"DATA_DIR": str(data_dir)})
        try:
            assert found.users.authenticate("chen", "an old password").role == "county_staff"
            assert [u.username for u in found.users.list_users()] == ["chen"]
            assert (
                found.ledger.get_local(checkpoint_id("db", "chen", "checkpoint-1"))["last_seq"]
                == 42
            )
            found.ledger_index.catch_up()
            with found.db.read() as conn:
                quarantined = conn.execute(
                    "SELECT doc_id, rev, username, pusher_scope FROM quarantine"
                ).fetchall()
                floods = conn.execute("SELECT username, refused, status FROM refused_pushes")
                floods = floods.fetchall()
                (legacy,) = conn.execute("SELECT COUNT(*) FROM legacy_users").fetchone()
            assert quarantined == [("patrol:1", "1-a", "chen", "422827")]
            assert floods == [("chen", 200, 413)] and legacy == 1
        finally:
            found.close()
