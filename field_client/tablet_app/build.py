"""Build the tablet app's assets: PouchDB's browser build from the pinned npm package
into web/vendor/ (`./dev` runs this after `npm ci`; the Python package ships web/).

    python -m field_client.tablet_app.build
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # field_client/
WEB = HERE / "web"
# What the app loads from npm packages: (package file, where the app loads it).
VENDORED: tuple[tuple[str, str], ...] = (("pouchdb/dist/pouchdb.min.js", "vendor/pouchdb.min.js"),)


def missing_assets() -> list[str]:
    """Vendored files the app needs that are not built yet."""
    return [target for _, target in VENDORED if not (WEB / target).is_file()]


def build(node_modules: Path = HERE / "node_modules") -> list[Path]:
    """Copy every vendored file into web/; the paths written."""
    written = []
    for source, target in VENDORED:
        origin = node_modules / source
        if not origin.is_file():
            raise FileNotFoundError(
                f"{origin} 不存在，请先在 field_client/ 运行 npm ci。 / "
                f"{origin} is missing: run npm ci in field_client/ first."
            )
        destination = WEB / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, destination)
        written.append(destination)
    return written


if __name__ == "__main__":
    try:
        for path in build():
            print(f"built {path.relative_to(HERE.parent)}")
    except FileNotFoundError as error:
        sys.exit(str(error))
