"""`fieldsync admin ca`: the county's certificate authority and its hub certificates
(server/tls/authority.py; docs/operations.md has the enrolment steps)."""

from __future__ import annotations

from pathlib import Path

import click

from ..tls.authority import CA_CERT, DEFAULT_DNS_SUFFIXES, create_authority, issue_hub_certificate


@click.group("ca")
def ca() -> None:
    """The county's certificate authority, which station hubs' HTTPS certificates chain
    to and which tablets install at enrolment. 县级证书机构：站点 HTTPS 证书由它签发。"""


@ca.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    required=True,
    help="Where the CA's key and certificate go (kept by county IT, offline).",
)
@click.option("--county", required=True, help="The county's name, e.g. 来凤县.")
@click.option("--dns-suffix", "suffixes", multiple=True, default=DEFAULT_DNS_SUFFIXES,
              show_default=True, help="Names the CA may vouch for (repeatable).")  # fmt: skip
def init(directory: Path, county: str, suffixes: tuple[str, ...]) -> None:
    """Create the county CA (never overwrites one). 新建县级证书机构。"""
    issued = create_authority(directory, county, tuple(suffixes))
    click.echo(f"已新建县级证书机构 Created the county CA: {issued.cert}")
    click.echo(f"  私钥 key (0600, 请离线保管 keep offline): {issued.key}")
    click.echo(
        f"下一步 Next: 在每台平板上安装 install on every tablet {issued.cert}; "
        "fieldsync admin ca issue-hub 为每个站点签发证书 issues each hub's certificate"
    )


@ca.command("issue-hub")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    required=True,
    help="The county CA's directory.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Where the hub's key and certificate go (copied to the hub's laptop).",
)
@click.option("--name", "names", multiple=True, help="A LAN name of the hub (repeatable).")
@click.option("--ip", "addresses", multiple=True, help="A LAN address of the hub (repeatable).")
def issue_hub(
    directory: Path, out: Path, names: tuple[str, ...], addresses: tuple[str, ...]
) -> None:  # noqa: E501
    """Issue a station hub's HTTPS certificate for its LAN names and addresses.
    为站点签发 HTTPS 证书（局域网名称和地址）。"""
    issued = issue_hub_certificate(directory, out, names, addresses)
    click.echo(f"已签发站点证书 Issued the hub's certificate: {issued.cert} (+ {CA_CERT})")
    click.echo(f"  私钥 key (0600): {issued.key}")
