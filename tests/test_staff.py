"""County staff list the quarantine; other roles may not."""

from __future__ import annotations

from support.county import OTHER_VILLAGE, VILLAGE, County, invalid_records


def test_staff_list_what_was_refused_in_their_scope(county: County) -> None:
    county.add_user("wangfang", "volunteer", VILLAGE)
    county.add_user("chen", "county_staff", "422827")
    county.add_user("township_staff", "county_staff", OTHER_VILLAGE[:9])
    county.add_user("it", "admin", "422827")
    bad = invalid_records(VILLAGE, author="wangfang")
    volunteer = county.session("wangfang")
    answer = volunteer.post(f"{county.url}/db/_bulk_docs", json={"docs": bad}, timeout=30)
    assert [row["error"] for row in answer.json()] == ["forbidden", "forbidden"]

    listing = county.session("chen").get(f"{county.url}/staff/quarantine?body=true", timeout=30)
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert {item["doc_id"] for item in items} == {doc["_id"] for doc in bad}
    assert all(
        item["pushed_by"] == "wangfang" and item["device"] == "tablet-wangfang" for item in items
    )
    time_zone = next(i for i in items if i["doc_id"] == bad[0]["_id"])["reasons"][0]
    assert "时区" in time_zone["zh"] and "Time zone" in time_zone["en"]
    assert items[0]["doc"]["_id"] in {doc["_id"] for doc in bad}

    # a township's staff see only their township: the out-of-scope push was by a volunteer
    # of another township, about a place in theirs, so it shows; the time-zone one does not
    narrow = (
        county.session("township_staff")
        .get(f"{county.url}/staff/quarantine", timeout=30)
        .json()["items"]
    )
    assert [item["doc_id"] for item in narrow] == [bad[1]["_id"]]

    for who, status in (("wangfang", 403), ("it", 403)):
        assert (
            county.session(who).get(f"{county.url}/staff/quarantine", timeout=30).status_code
            == status
        )
    assert (
        county.session("nobody").get(f"{county.url}/staff/quarantine", timeout=30).status_code
        == 401
    )
