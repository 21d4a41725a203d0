"""A station hub is the county's own gateway over the hub's store (`fieldsync hub`): a
tablet syncs with it as with the county, a bad record is refused at the station with a
notice back to the tablet, and the hub's link forwards the station's work to the county
with each record's author. (Accounts still start on the hub itself: issue 13's next
step moves them into the store so the county's reach the hub.)"""

from __future__ import annotations

from pathlib import Path

from support.county import (
    PASSWORD,
    VILLAGE,
    county_store,
    invalid_records,
    live_county,
    quarantined,
    village_records,
)

from server.accounts.users import UserStore
from server.hub.upstream import Upstream
from server.services import services
from sync import SqliteStore
from sync.http_client import RetryPolicy
from sync.open import open_store
from sync.replicator import replicate


def test_a_tablet_syncs_at_the_hub_and_the_hub_forwards_to_the_county(tmp_path: Path) -> None:
    with (
        live_county(tmp_path / "county", None) as county,
        live_county(tmp_path / "hub", None) as hub,
    ):
        county.add_places(VILLAGE)
        county.add_user("laoli", "station_lead", VILLAGE)
        county.add_user("xiaowang", "volunteer", VILLAGE)
        link = Upstream(
            county_store(hub),
            lambda: open_store(county.db_url("laoli"), retry=RetryPolicy(attempts=2)),
        )
        assert link.run_once().ok  # the station's reference data and roster come down
        assert county_store(hub).get("user:xiaowang")["role"] == "volunteer"
        with hub.app.app_context():
            UserStore(services().db).create("xiaowang", PASSWORD, "volunteer", VILLAGE)

        tablet = SqliteStore(tmp_path / "tablet.sqlite")
        good = village_records(VILLAGE, 2, author="xiaowang")
        bad = invalid_records(VILLAGE, author="xiaowang")
        for doc in good + bad:
            tablet.put(doc)
        at_hub = open_store(hub.db_url("xiaowang"))
        pushed = replicate(tablet, at_hub)
        assert pushed.docs_written == len(good)
        assert sorted(doc_id for doc_id, _ in quarantined(hub)) == sorted(d["_id"] for d in bad)
        replicate(at_hub, tablet)  # the station's notices reach the tablet at once
        notices = [r["doc"] for r in tablet.all_docs(include_docs=True)
                   if r["id"].startswith("rejection_notice:")]  # fmt: skip
        assert sorted(n["about"] for n in notices) == sorted(d["_id"] for d in bad)

        forwarded = link.run_once()
        assert forwarded.ok and forwarded.refused == []
        on_county = county_store(county)
        for doc in good:
            arrived = on_county.get(doc["_id"], conflicts=True)
            assert arrived["author"] == "user:xiaowang" and "_conflicts" not in arrived
        assert not quarantined(county)  # the bad ones never left the station
        assert link.run_once().sent == 0
