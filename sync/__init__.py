"""Document stores that speak the CouchDB replication protocol.

`sync` owns revision trees, the `Store` interface and its implementations.
It never imports Flask, `server` or `field_client`, and knows no record types.
"""

from .errors import StoreError
from .sqlite_store import SqliteStore
from .store import Attachment, ChangesFeed, Store

__all__ = ["Attachment", "ChangesFeed", "SqliteStore", "Store", "StoreError"]
