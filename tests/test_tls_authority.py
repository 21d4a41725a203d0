"""The county CA and hub certificates: a tablet that installed the county's CA trusts its
hub over HTTPS with no internet; nothing else does, and the CA vouches for LAN names only.

The browser test serves a page over TLS with the issued chain and opens it in Debian's
chromium whose certificate store (NSS, $HOME/.pki/nssdb) holds the county CA, as a
tablet's does after enrolment: no "ignore certificate errors" anywhere.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from support.serve_process import served_url
from support.tls import HUB_NAME, launch_tablet, tablet_home

from server.tls.authority import (
    AuthorityError,
    _load_authority,
    create_authority,
    issue_hub_certificate,
)


@pytest.fixture
def authority(tmp_path: Path) -> Path:
    create_authority(tmp_path / "ca", "来凤县")
    return tmp_path / "ca"


def _chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _verify(authority: Path, chain: list[x509.Certificate], name: str) -> None:
    (ca,) = _chain(authority / "county-ca.crt")
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName(name))
    verifier.verify(chain[0], chain[1:])


def test_a_hub_certificate_chains_to_the_county_ca(authority: Path, tmp_path: Path) -> None:
    issued = issue_hub_certificate(authority, tmp_path / "hub", (HUB_NAME,), ("192.168.8.1",))
    chain = _chain(issued.cert)
    assert len(chain) == 2
    _verify(authority, chain, HUB_NAME)
    names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [HUB_NAME]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["192.168.8.1"]
    for private in (issued.key, authority / "county-ca.key"):
        assert private.stat().st_mode & 0o077 == 0


def test_the_county_ca_vouches_for_lan_names_only(authority: Path, tmp_path: Path) -> None:
    for name, address in (("www.example.com", ()), (HUB_NAME, ("8.8.8.8",))):
        with pytest.raises(AuthorityError, match="outside what the county CA may vouch for"):
            issue_hub_certificate(authority, tmp_path / "rogue", (name,), address)
    # And were one issued anyway (a CA key used by other tools), browsers refuse it.
    key, ca = _load_authority(authority)
    rogue = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .issuer_name(ca.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca.not_valid_before_utc)
        .not_valid_after(ca.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), False)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(VerificationError):
        _verify(authority, [rogue], "www.example.com")


def test_nothing_is_overwritten_and_bad_input_is_named(authority: Path, tmp_path: Path) -> None:
    with pytest.raises(AuthorityError, match="never overwritten"):
        create_authority(authority, "来凤县")
    issue_hub_certificate(authority, tmp_path / "hub", (HUB_NAME,))
    with pytest.raises(AuthorityError, match="never overwritten"):
        issue_hub_certificate(authority, tmp_path / "hub", (HUB_NAME,))
    with pytest.raises(AuthorityError, match="not an IP address"):
        issue_hub_certificate(authority, tmp_path / "other", (), ("192.168.8.300",))
    with pytest.raises(AuthorityError, match="at least one name"):
        issue_hub_certificate(authority, tmp_path / "none", ())
    with pytest.raises(AuthorityError, match="holds no county CA"):
        issue_hub_certificate(tmp_path / "nowhere", tmp_path / "x", (HUB_NAME,))


@contextmanager
def https_page(cert: Path, key: Path) -> Iterator[int]:
    """A page over TLS on 127.0.0.1, serving `cert`'s chain: its port."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = "<!doctype html><title>hub</title><p id=ok>站点 / hub</p>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _open(browser: Any, home: Path, port: int) -> tuple[bool, str]:
    launched = launch_tablet(browser, home)
    try:
        page = launched.new_page()
        try:
            page.goto(f"https://{HUB_NAME}:{port}/", timeout=15000)
        except Exception as error:  # noqa: BLE001 (the refusal is what is checked)
            return False, str(error)
        return page.evaluate("window.isSecureContext"), page.inner_text("#ok")
    finally:
        launched.close()


@pytest.mark.browser
def test_an_enrolled_tablet_trusts_its_hub_and_a_stranger_does_not(
    browser: Any, authority: Path, tmp_path: Path
) -> None:
    issued = issue_hub_certificate(authority, tmp_path / "hub", (HUB_NAME,), ("127.0.0.1",))
    with https_page(issued.cert, issued.key) as port:
        enrolled = tablet_home(tmp_path / "enrolled", authority / "county-ca.crt")
        secure, text = _open(browser, enrolled, port)
        assert secure is True and text == "站点 / hub"
        trusted, error = _open(browser, tablet_home(tmp_path / "stranger", None), port)
        assert trusted is False and "ERR_CERT_AUTHORITY_INVALID" in error


def test_the_commands_make_a_ca_and_a_hub_certificate(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from server.commands.cli import main

    runner = CliRunner()
    made = runner.invoke(main, ["admin", "ca", "init", "--dir", str(tmp_path / "ca"),
                                "--county", "来凤县"])  # fmt: skip
    assert made.exit_code == 0, made.output
    issued = runner.invoke(main, ["admin", "ca", "issue-hub", "--dir", str(tmp_path / "ca"),
                                  "--out", str(tmp_path / "hub"), "--name", HUB_NAME,
                                  "--ip", "192.168.8.1"])  # fmt: skip
    assert issued.exit_code == 0, issued.output
    _verify(tmp_path / "ca", _chain(tmp_path / "hub" / "hub.crt"), HUB_NAME)
    bad = ["--dir", str(tmp_path / "ca"), "--out", str(tmp_path / "bad"), "--name", "evil.com"]
    refused = runner.invoke(main, ["admin", "ca", "issue-hub", *bad])
    assert refused.exit_code == 1
    assert "不在县级证书机构可担保的范围内" in refused.output
    assert not (tmp_path / "bad").exists()


def test_fieldsync_serve_with_a_certificate_serves_https(tmp_path: Path) -> None:
    create_authority(tmp_path / "ca", "来凤县")
    issued = issue_hub_certificate(tmp_path / "ca", tmp_path / "hub", (HUB_NAME,), ("127.0.0.1",))
    fieldsync = [str(Path(sys.executable).parent / "fieldsync")]
    data = ["--data-dir", str(tmp_path / "county")]
    subprocess.run([*fieldsync, "admin", "init", *data], check=True, capture_output=True)
    half = subprocess.run([*fieldsync, "serve", *data, "--cert", str(issued.cert)],
                          capture_output=True, text=True)  # fmt: skip
    assert half.returncode == 2 and "--cert and --key go together" in half.stderr
    with subprocess.Popen(
        [*fieldsync, "serve", *data, "--port", "0", "--cert", str(issued.cert),
         "--key", str(issued.key)],
        stderr=subprocess.PIPE, text=True,
    ) as server:  # fmt: skip
        try:
            url = served_url(server)
            assert url.startswith("https://")
            health = requests.get(
                f"{url}/health", verify=tmp_path / "ca" / "county-ca.crt", timeout=10
            )
            assert health.json()["status"] == "ok"
            with pytest.raises(requests.exceptions.SSLError):
                requests.get(f"{url}/health", timeout=10)  # no county CA: not trusted
        finally:
            server.terminate()
            assert server.wait(timeout=20) == 0
