"""fieldsync: offline-first field data for rural volunteer service teams."""

from setuptools import find_packages, setup

setup(
    name="fieldsync",
    version="0.1.0",
    description="Offline-first field data (patrols, water sources, home visits) "
    "synced by the CouchDB replication protocol",
    python_requires=">=3.11",
    packages=find_packages(
        include=["schemas", "sync", "server", "server.*", "field_client", "field_client.*"]
    ),
    # The tablet app's shell, built by `python -m field_client.tablet_app.build` (./dev runs it).
    package_data={"field_client": ["web/*", "web/**/*"]},
    install_requires=[
        "marshmallow>=3.20,<5",
        "click>=8.1",
        "requests>=2.31",
        "orjson>=3.9",
        "flask>=3.0",
        "waitress>=3.0",
        "pyyaml>=6.0",
        "cheroot>=10",  # HTTPS for station hubs (waitress has no TLS)
        "cryptography>=42",  # the county CA and station hubs' HTTPS certificates
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "hypothesis>=6.100",
            "ruff>=0.6",
            "couchdb>=1.2",  # couchdb-python and python-cloudant: standard clients of /db
            "cloudant>=2.15",
            "playwright>=1.45",  # drives Debian's chromium (never a downloaded browser)
        ],
    },
    entry_points={"console_scripts": ["fieldsync=server.commands.cli:main"]},
)
