"""Serving over HTTPS: what a station hub does on the LAN (browsers keep an offline app
and send passwords only to a secure origin).

waitress, the county's server, does not speak TLS; cheroot (CherryPy's WSGI server, pure
Python, a fixed thread pool, HTTP/1.1 keep-alive) does, with the standard library's ssl.
The threads and timeouts are the ones `gateway.feeds.waitress_options` computes, so
waiting feeds never take the workers other requests need, as under waitress.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from flask import Flask

from ..gateway.feeds import waitress_options


class HttpsServer:
    """`app` over TLS with `cert` (the chain: hub certificate, then the CA's) and `key`."""

    def __init__(
        self, app: Flask, host: str, port: int, threads: int, cert: Path, key: Path
    ) -> None:
        options = waitress_options(app.config, threads)
        self.threads = int(options["threads"])  # type: ignore[call-overload]
        self.server = wsgi.Server(
            (host, port),
            app,
            numthreads=self.threads,
            server_name="fieldsync",
            timeout=int(options["channel_timeout"]),  # type: ignore[call-overload]
        )
        adapter = BuiltinSSLAdapter(str(cert), str(key))
        adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server.ssl_adapter = adapter
        self.server.prepare()  # binds now, so a taken port is an error here, not later

    @property
    def effective_port(self) -> int:
        return int(self.server.bind_addr[1])

    def run(self) -> None:
        """Serve until `close()` (or Ctrl-C / SIGTERM in the serving thread)."""
        self.server.serve()

    def close(self) -> None:
        self.server.stop()
