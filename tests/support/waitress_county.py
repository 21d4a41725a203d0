"""A county server under waitress, built as `fieldsync serve` builds it.

`support.county.live_county` serves with werkzeug's threaded test server: a thread per
request, HTTP/1.0, a connection closed after every answer. Some things show only under
the production server: a worker pool of fixed size that waiting feeds could take
(`server.gateway.feeds.waitress_options`), and HTTP/1.1 keep-alive, which CouchDB's
replicator relies on (it reuses pooled connections).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from waitress import create_server, wasyncore

from server.app import create_app
from server.gateway.feeds import waitress_options

from .county import County


@contextmanager
def waitress_county(
    data_dir: Path, couch_url: str | None, *, threads: int = 8, **overrides: object
) -> Iterator[County]:
    """A county on a free 127.0.0.1 port under waitress with `threads` workers (and the
    feed slots' threads besides them), over CouchDB when `couch_url` is given."""
    config: dict[str, object] = {
        "DATA_DIR": str(data_dir),
        "TESTING": True,
        "SECRET_KEY": "test",
        "LONGPOLL_SECONDS": 2,
        **overrides,
    }
    if couch_url:
        config["COUCHDB_URL"] = f"{couch_url}/county-{uuid.uuid4().hex[:10]}"
    app = create_app(config)
    server = create_server(
        app, host="127.0.0.1", port=0, ident="fieldsync", **waitress_options(app.config, threads)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield County(app, f"http://127.0.0.1:{server.effective_port}")
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=10)
        # The loop runs while anything is in its map: close the open connections too.
        wasyncore.close_all(server._map)
        thread.join(timeout=10)
        app.extensions["fieldsync"].close()
