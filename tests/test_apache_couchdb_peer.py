"""The Apache CouchDB test node starts, answers as CouchDB 3.5 and holds data."""

from __future__ import annotations

import requests


def test_the_node_is_couchdb_3_5_with_two_shard_databases(apache_couchdb_db: str) -> None:
    welcome = requests.get(apache_couchdb_db.rsplit("/", 1)[0] + "/", timeout=10).json()
    assert welcome["couchdb"] == "Welcome" and welcome["version"].startswith("3.5")
    written = requests.put(f"{apache_couchdb_db}/a", json={"x": 1}, timeout=10)
    assert written.status_code == 201
    info = requests.get(apache_couchdb_db, timeout=10).json()
    assert info["doc_count"] == 1 and info["cluster"]["q"] == 2
