"""A station hub's link to a live county, as `fieldsync hub` wires it: the county's /db
and /accounts as the station lead, the hub's store and accounts store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.hub.accounts import accounts_url
from server.hub.station_work import to_send
from server.hub.upstream import Upstream
from support.county import VILLAGE, County, county_store, live_county
from sync.http_client import RetryPolicy
from sync.open import open_store


def hub_link(county: County, hub: County, lead: str = "laoli", via: str | None = None) -> Upstream:
    """The link as the lead; `via`: another base URL for the county (a fault proxy)."""
    url = county.db_url(lead)
    if via is not None:
        url = url.replace(county.url.removeprefix("http://"), via.removeprefix("http://"))
    retry = RetryPolicy(attempts=1)
    return Upstream(
        county_store(hub),
        lambda: open_store(url, retry=retry),
        station_work=lambda: to_send(hub.app.extensions["fieldsync"]),
        accounts=(
            hub.app.extensions["fieldsync"].accounts,
            lambda: open_store(accounts_url(url), create=False, retry=retry),
        ),
    )


@contextmanager
def county_and_hub(
    tmp_path: Path, people: list[tuple[str, str, str]], villages: tuple[str, ...] = (VILLAGE,)
) -> Iterator[tuple[County, County]]:
    """A county with `villages`' places and `people` (name, role, scope), and an empty
    hub beside it, both embedded and live on 127.0.0.1."""
    with (
        live_county(tmp_path / "county", None) as county,
        live_county(tmp_path / "hub", None) as hub,
    ):
        county.add_places(*villages)
        for name, role, scope in people:
            county.add_user(name, role, scope)
        yield county, hub
