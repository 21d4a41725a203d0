"""Which county an admin command works on, and opening it without making one by accident.

The configuration is the server's own (defaults, instance/config.py, FIELDSYNC_*
variables, as `create_app()` reads them), with `--data-dir` over it. A county is
a data directory holding the gateway's file and, unless CouchDB holds the
documents, the embedded store. Anything else is refused: opening it would
silently make an empty county, and an admin would add accounts nobody serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from sync.couch_store import CouchStore
from sync.errors import NotFound
from sync.store import Store

from ..accounts.users import UserStore
from ..app import create_app, load_config
from ..database import GATEWAY_FILE
from ..services import SERVER_FILES, STORE_FILE, with_sqlite_companions
from .failures import at, safe_location

# What create_app makes in a data directory.
COUNTY_FILES = frozenset(with_sqlite_companions(SERVER_FILES)) | {"secret_key"}

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(command: F) -> F:
    """`--data-dir DIR`, over FIELDSYNC_DATA_DIR and instance/config.py."""
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="The county's data directory (default: FIELDSYNC_DATA_DIR, else data/county).",
    )(command)


@dataclass
class County:
    users: UserStore  # login accounts, in the accounts store
    store: Store  # the county's documents


def server_config(data_dir: Path | None) -> dict[str, Any]:
    """The configuration `create_app()` would read, with `data_dir` over it if given."""
    return load_config({"DATA_DIR": str(data_dir)} if data_dir is not None else None)


def describe(config: dict[str, Any]) -> str:
    """Where the county lives, credentials left out."""
    where = str(Path(config["DATA_DIR"]).resolve())
    url = config.get("COUCHDB_URL")
    return f"{where} + {safe_location(url)}" if url else where


def has_county(config: dict[str, Any]) -> bool:
    data_dir, url = Path(config["DATA_DIR"]), config.get("COUCHDB_URL")
    if not (data_dir / GATEWAY_FILE).is_file():
        return False
    if not url:
        return (data_dir / STORE_FILE).is_file()
    with at(url), CouchStore(url) as store:  # never create=True: that is init's job
        try:
            store.info()
        except NotFound:
            return False
    return True


def existing_county(data_dir: Path | None) -> dict[str, Any]:
    """The configuration of the county `data_dir` (or the server's settings) names,
    refused in one line where there is none; named on stderr where there is."""
    config = server_config(data_dir)
    if not has_county(config):
        where = describe(config)
        raise click.ClickException(
            f"{where} 中没有县级数据：请用 --data-dir 或 FIELDSYNC_DATA_DIR 指定县级数据目录，"
            f"或用 fieldsync admin init 新建。 / {where} holds no county: name its data "
            "directory with --data-dir or FIELDSYNC_DATA_DIR, or create one with "
            "fieldsync admin init."
        )
    click.echo(f"县级数据 County: {describe(config)}", err=True)
    return config


@contextmanager
def open_county(data_dir: Path | None) -> Iterator[County]:
    """The county's accounts and store; refused (one line) where there is no county."""
    with _opened(existing_county(data_dir)) as county:
        yield county


def create_county(data_dir: Path | None) -> tuple[str, bool]:
    """Make a new, empty county: (where, False if one was there already)."""
    config = server_config(data_dir)
    where = describe(config)
    if has_county(config):
        return where, False
    path = Path(config["DATA_DIR"]).resolve()
    foreign = (
        sorted(p.name for p in path.iterdir() if p.name not in COUNTY_FILES)
        if path.is_dir()
        else []
    )
    if foreign:
        raise click.ClickException(
            f"{path} 不是空目录（有 {foreign[0]} 等），未做任何改动；请选新目录或空目录。 / "
            f"{path} is not empty ({foreign[0]}, ...); nothing was changed: "
            "choose a new or empty directory."
        )
    with _opened(config):
        pass  # create_app makes the gateway file, the store and the secret key
    return where, True


@contextmanager
def _opened(config: dict[str, Any]) -> Iterator[County]:
    with at(describe(config)):
        app = create_app(config)
    services = app.extensions["fieldsync"]
    try:
        with app.app_context():  # log_event writes through the app's logger
            yield County(services.users, services.store)
    finally:
        services.close()
