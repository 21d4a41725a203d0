"""The county's certificate authority, and the certificates it issues to station hubs.

A station hub serves the tablet app and /db/ over HTTPS on a LAN with no internet: no
public CA can vouch for `hub.station.lan` or 192.168.8.1. The county runs its own CA:
its certificate reaches each tablet at enrolment (installed once, in coverage), and the
county issues each hub a certificate for the hub's LAN names and addresses. A tablet
then trusts its hub with no network beyond the station's Wi-Fi.

The CA is name-constrained: it can vouch only for names under the given DNS suffixes
(default `lan`) and for private and loopback addresses, so a stolen county CA key
cannot impersonate a bank to a tablet that trusts it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY = "county-ca.key"
CA_CERT = "county-ca.crt"
HUB_KEY = "hub.key"
HUB_CERT = "hub.crt"  # the hub's certificate followed by the CA's: the chain it serves
CA_YEARS = 10
HUB_DAYS = 825  # a hub may stay offline for months; renewal is an enrolment step
DEFAULT_DNS_SUFFIXES: tuple[str, ...] = ("lan",)
# What a hub may be reached at: private networks and this machine.
PERMITTED_NETWORKS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "::1/128",
    "fd00::/8",
)


class AuthorityError(ValueError):
    """A bilingual reason the CA cannot do what was asked."""


@dataclass(frozen=True)
class Issued:
    key: Path
    cert: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start: never world-readable, even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def create_authority(
    directory: Path, county: str, dns_suffixes: tuple[str, ...] = DEFAULT_DNS_SUFFIXES
) -> Issued:
    """A new county CA in `directory` (which must not hold one): its key (0600) and its
    self-signed certificate, the file tablets install."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / CA_KEY).exists() or (directory / CA_CERT).exists():
        raise AuthorityError(
            f"{directory} 已有县级证书机构，不会覆盖。 / {directory} already holds a county CA; "
            "it is never overwritten."
        )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{county} fieldsync CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, county),
        ]
    )
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(suffix) for suffix in dns_suffixes]
        + [x509.IPAddress(ipaddress.ip_network(net)) for net in PERMITTED_NETWORKS],
        excluded_subtrees=None,
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(constraints, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / CA_KEY, _pem_key(key))
    (directory / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(directory / CA_KEY, directory / CA_CERT)


def _load_authority(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
    except FileNotFoundError as error:
        raise AuthorityError(
            f"{directory} 中没有县级证书机构（先运行 fieldsync admin ca init）。 / "
            f"{directory} holds no county CA (run fieldsync admin ca init first)."
        ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise AuthorityError(f"{directory / CA_KEY}: 不是本系统的密钥。 / not a fieldsync CA key.")
    return key, cert


def _subject_names(names: tuple[str, ...], addresses: tuple[str, ...]) -> list[x509.GeneralName]:
    if not names and not addresses:
        raise AuthorityError(
            "至少需要一个主机名或 IP 地址。 / A hub certificate needs at least one name or address."
        )
    general: list[x509.GeneralName] = [x509.DNSName(name.lower()) for name in names]
    for address in addresses:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError as error:
            raise AuthorityError(
                f"{address!r} 不是 IP 地址。 / {address!r} is not an IP address."
            ) from error
    return general


def _check_permitted(ca_cert: x509.Certificate, general: list[x509.GeneralName]) -> None:
    """Refuse at issue what browsers would refuse at use (the CA's name constraints)."""
    permitted = ca_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    subtrees = permitted.permitted_subtrees or []
    suffixes = [tree.value for tree in subtrees if isinstance(tree, x509.DNSName)]
    networks = [tree.value for tree in subtrees if isinstance(tree, x509.IPAddress)]
    for name in general:
        if isinstance(name, x509.DNSName):
            ok = any(name.value == s or name.value.endswith(f".{s}") for s in suffixes)
        else:
            ok = any(name.value in network for network in networks)
        if not ok:
            raise AuthorityError(
                f"{name.value} 不在县级证书机构可担保的范围内"
                f"（{', '.join(suffixes)} 下的名称、内网地址）。 / "
                f"{name.value} is outside what the county CA may vouch for (names under "
                f"{', '.join(suffixes)}, private addresses)."
            )


def issue_hub_certificate(
    authority: Path, out: Path, names: tuple[str, ...], addresses: tuple[str, ...] = ()
) -> Issued:
    """A certificate for one hub's LAN `names` and `addresses`, signed by the county CA in
    `authority`: its key (0600) and `hub.crt` (the hub's certificate, then the CA's)."""
    ca_key, ca_cert = _load_authority(authority)
    general = _subject_names(names, addresses)
    _check_permitted(ca_cert, general)
    out.mkdir(parents=True, exist_ok=True)
    if (out / HUB_KEY).exists():
        raise AuthorityError(
            f"{out} 已有站点证书，不会覆盖。 / {out} already holds a hub certificate; "
            "it is never overwritten."
        )
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    first = names[0] if names else addresses[0]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(min(now + dt.timedelta(days=HUB_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(general), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(out / HUB_KEY, _pem_key(key))
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    )
    (out / HUB_CERT).write_bytes(chain)
    return Issued(out / HUB_KEY, out / HUB_CERT)
