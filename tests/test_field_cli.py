"""The command-line field client (`fieldsync record`, `records`, `sync`, `status`) against a
live county server: records are checked by the schemas before they are saved, a sync sends
each once, the server's refusals and reviews come back as the records' states, and a
refused record corrected with `record --edit` is sent and its notice settled."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.county import (
    OTHER_VILLAGE,
    PASSWORD,
    VILLAGE,
    County,
    county_store,
    live_county,
    logged,
)

from field_client.command_line import local
from field_client.command_line.states import look
from schemas.rejection_notice import notice_id
from server.commands.cli import main
from sync import SqliteStore
from sync.errors import NotFound

GRID = VILLAGE + "001"


def sets(*assignments: str) -> list[str]:
    """`--set` options: sets("a=1", "b=2") -> ["--set", "a=1", "--set", "b=2"]."""
    return [arg for assignment in assignments for arg in ("--set", assignment)]


PATROL = sets(
    "participants=user:xiaowang",
    "started_at=2024-09-01T08:00:00+08:00",
    "ended_at=2024-09-01T11:30:00+08:00",
    "zone=白岩村第一网格",
    "location.lat=29.5135",
    "location.lon=109.4071",
    "location.accuracy_m=12",
)


def field(db: Path, *args: str) -> Result:
    """One field-client command on the local database `db`, as `fieldsync ...` runs it."""
    return CliRunner().invoke(main, [*args, "--db", str(db)])


def saved_id(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def states(db: Path) -> dict[str, dict]:
    result = field(db, "records", "--json")
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.stdout)}


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output and "。 / " in lines[0], output
    return lines[0]


@pytest.fixture
def village(county: County) -> Iterator[County]:
    """The county with two villages, volunteer xiaowang of the first, county staff chen."""
    county.add_places(VILLAGE, OTHER_VILLAGE)
    county.add_user("xiaowang", "volunteer", VILLAGE)
    county.add_user("chen", "county_staff", VILLAGE[:6])
    yield county


def test_records_are_checked_sent_once_refused_corrected_and_reviewed(
    village: County, tmp_path: Path
) -> None:
    db = tmp_path / "laptop.sqlite"
    url = village.db_url("xiaowang")

    # Before the first sync the device knows nobody: nothing is recorded, nothing made.
    early = field(db, "record", "patrol", *PATROL)
    assert early.exit_code == 1 and "fieldsync sync URL" in one_line(early.output)
    assert not db.exists()
    first = field(db, "sync", url)
    assert first.exit_code == 0, first.output
    assert "发送 0 条" in first.stdout and "Sent 0" in first.stdout
    with SqliteStore(db) as store:
        who = local.identity(store)
        assert who is not None and who.username == "xiaowang"
        assert who.device.startswith("cli-")
        assert store.get("user:xiaowang")["station"] == f"station:{VILLAGE}"

    patrol = saved_id(field(db, "record", "patrol", *PATROL))
    source = tmp_path / "spring.json"
    source.write_text(
        json.dumps(
            {
                "location": {"lat": 29.4921, "lon": 109.3856, "accuracy_m": 8},
                "kind": "spring",
                "status": "found",
                "found_on": "2024-08-25",
                "terrain": "山谷底部，需翻过两道山梁。",
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    spring = saved_id(
        field(
            db,
            "record",
            "water_source",
            *("--file", str(source)),
            *sets("households_served=20", "people_served=100", f"place={VILLAGE}"),
        )
    )
    household = saved_id(
        field(
            db,
            "record",
            "household",
            *sets("household_no=BY-01-017", "head_of_household=田大爷"),
            *sets("address=白岩村一组 17 号", "size=2"),
            *sets("vulnerability=elderly_alone,disabled"),
        )
    )
    visit = saved_id(
        field(
            db,
            "record",
            "home_visit",
            *sets(f"household={household}", "visited_at=2024-09-02T09:30:00+08:00"),
            *sets("duration_min=90", "volunteers=user:xiaowang"),
            *sets("services=haircut、cleaning", "health.temperature_c=36.6"),
        )
    )
    with SqliteStore(db) as store:
        stored_visit = store.get(visit)
        stored_patrol = store.get(patrol)
    assert stored_visit["services"] == ["haircut", "cleaning"]
    assert stored_visit["duration_min"] == 90 and stored_visit["health"]["temperature_c"] == 36.6
    assert stored_patrol["location"] == {"lat": 29.5135, "lon": 109.4071, "accuracy_m": 12}
    assert stored_patrol["author"] == "user:xiaowang" and stored_patrol["place"] == VILLAGE
    assert stored_patrol["team"] == f"team:{VILLAGE}" and stored_patrol["device"] == who.device

    # An invalid record: every problem is named in both languages, nothing is saved.
    before = SqliteStore(db)
    count = before.info()["doc_count"]
    before.close()
    bad = field(db, "record", "patrol", *sets("participants=user:xiaowang", "location.lat=95"))
    assert bad.exit_code == 1 and bad.stdout == ""
    assert "记录未保存：共 5 处错误" in bad.stderr and "5 problem(s)" in bad.stderr
    assert "started_at（开始时间）：缺少必填字段。" in bad.stderr
    assert "started_at (Started): Missing data for required field." in bad.stderr
    assert "location.lat（纬度）：不能大于 90。" in bad.stderr
    assert "location.accuracy_m (Accuracy (m)): Missing data" in bad.stderr
    with SqliteStore(db) as store:
        assert store.info()["doc_count"] == count

    # A patrol outside the volunteer's scope is saved here, and refused by the server.
    astray = saved_id(field(db, "record", "patrol", *PATROL, "--set", f"place={OTHER_VILLAGE}001"))
    mine = [patrol, spring, household, visit, astray]
    assert {row["state"] for row in states(db).values()} == {"saved"}
    status = field(db, "status")
    assert status.exit_code == 0 and "未发送 5 条。 / Not sent yet: 5." in status.stdout

    sent = field(db, "sync", url)
    assert sent.exit_code == 0, sent.output
    assert (
        "发送 4 条" in sent.stdout and "被拒收 1 条" in sent.stdout and "refused 1" in sent.stdout
    )
    assert f"refused {astray}" in sent.stdout and "outside your scope" in sent.stdout
    for doc_id in mine[:4]:
        assert county_store(village).get(doc_id)["author"] == "user:xiaowang"
        assert [outcome for _, outcome in logged(village, doc_id)] == ["accepted"]
    with pytest.raises(NotFound):
        county_store(village).get(astray)
    shown = states(db)
    assert set(shown) == set(mine)
    assert [shown[doc_id]["state"] for doc_id in mine] == ["sent"] * 4 + ["refused"]
    assert "不在你的负责范围内" in shown[astray]["reasons"][0]
    status = field(db, "status").stdout
    assert "未发送 0 条。 / Not sent yet: 0." in status
    assert "被拒收 1 条。 / Refused: 1." in status and "outside your scope" in status
    assert "Sent 4, received" in status and "refused 1, conflicts 0." in status
    listed = field(db, "records", "--state", "refused").stdout.splitlines()
    assert len(listed) == 1 and listed[0].startswith(astray)
    assert "巡逻/Patrol  被退回（服务器拒收） / Refused by the server" in listed[0]

    # Corrected: saved until sent, then sent, and the notice is settled at both ends.
    assert saved_id(field(db, "record", "patrol", "--edit", astray, "--set", f"place={GRID}"))
    assert states(db)[astray]["state"] == "saved"
    again = field(db, "sync", url)
    assert again.exit_code == 0, again.output
    assert "发送 1 条" in again.stdout and "被拒收 0 条" in again.stdout
    assert states(db)[astray]["state"] == "sent"
    assert county_store(village).get(astray)["place"] == GRID
    with SqliteStore(db) as store:
        for either in (store, county_store(village)):
            with pytest.raises(NotFound):
                either.get(notice_id(astray))
    assert "被拒收 0 条。 / Refused: 0." in field(db, "status").stdout

    # County staff review two records on the server; the next pull brings the verdicts.
    for doc_id, review in (
        (patrol, {"state": "returned", "comment": "请补充巡逻轨迹。"}),
        (spring, {"state": "approved"}),
    ):
        reviewed = county_store(village).get(doc_id)
        reviewed["review"] = {**review, "by": "user:chen", "at": "2024-09-03T10:00:00+08:00"}
        county_store(village).put(reviewed)
    reviews = field(db, "sync", url)
    assert reviews.exit_code == 0 and "接收 2 条" in reviews.stdout, reviews.output
    shown = states(db)
    assert shown[patrol]["state"] == "returned" and shown[patrol]["comment"] == "请补充巡逻轨迹。"
    assert shown[spring]["state"] == "approved"
    assert [shown[doc_id]["state"] for doc_id in mine[2:]] == ["sent"] * 3
    assert "未发送 0 条" in field(db, "status").stdout
    returned = field(db, "records", "--type", "patrol", "--state", "returned").stdout
    assert "审核退回 / Returned by the reviewer" in returned and "请补充巡逻轨迹。" in returned
    closed = field(db, "record", "water_source", "--edit", spring, "--set", "status=assessed")
    assert closed.exit_code == 1 and "approved by county staff" in one_line(closed.output)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[County]:
    """One backend is enough where only the client's side is in question."""
    with live_county(tmp_path / "county", None) as county:
        county.add_places(VILLAGE)
        county.add_user("xiaowang", "volunteer", VILLAGE)
        county.add_user("lihua", "volunteer", VILLAGE)
        yield county


def fieldsync(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The installed command in its own process (the live server logs in this one)."""
    command = [str(Path(sys.executable).with_name("fieldsync")), *args]
    return subprocess.run(command, capture_output=True, text=True, input=stdin, timeout=120)


def test_a_wrong_password_or_no_server_is_one_line_and_the_records_are_safe(
    embedded: County, tmp_path: Path
) -> None:
    db = tmp_path / "laptop.sqlite"
    host = embedded.url.removeprefix("http://")
    wrong = fieldsync("sync", f"http://xiaowang:guess-1234@{host}/db", "--db", str(db))
    assert wrong.returncode == 1
    line = one_line(wrong.stdout + wrong.stderr)
    assert "密码错误" in line and "password is wrong" in line and "safe on this device" in line
    assert "guess-1234" not in wrong.stdout + wrong.stderr
    assert not db.exists()  # a first sync that never logged in leaves nothing behind

    # The password read from stdin: the URL names only the user.
    first = fieldsync(
        "sync", f"http://xiaowang@{host}/db", "--db", str(db), "--password-stdin", stdin=PASSWORD
    )
    assert first.returncode == 0, first.stderr
    saved = fieldsync("record", "patrol", *PATROL, "--db", str(db))
    assert saved.returncode == 0, saved.stderr
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = fieldsync("sync", f"http://xiaowang:{PASSWORD}@127.0.0.1:{port}/db", "--db", str(db))
    assert gone.returncode == 1
    line = one_line(gone.stdout + gone.stderr)
    assert "连不上服务器" in line and "still safe on this device" in line
    assert states(db)[saved.stdout.strip()]["state"] == "saved"


def test_one_local_database_belongs_to_one_person(embedded: County, tmp_path: Path) -> None:
    db = tmp_path / "laptop.sqlite"
    assert field(db, "sync", embedded.db_url("xiaowang")).exit_code == 0
    other = field(db, "sync", embedded.db_url("lihua"))
    assert other.exit_code == 1 and "belongs to xiaowang" in one_line(other.output)
    no_user = field(db, "sync", embedded.db_url("xiaowang").replace("xiaowang:", ":"))
    assert no_user.exit_code == 1


def test_a_record_made_here_in_another_name_comes_back_refused(
    embedded: County, tmp_path: Path
) -> None:
    """The write policy refuses a volunteer's record in a fellow volunteer's name; it is
    listed here all the same (it was made on this device), with the server's reason."""
    db = tmp_path / "laptop.sqlite"
    url = embedded.db_url("xiaowang")
    assert field(db, "sync", url).exit_code == 0
    theirs = saved_id(field(db, "record", "patrol", *PATROL, "--set", "author=user:lihua"))
    assert field(db, "sync", url).exit_code == 0
    (shown,) = states(db).values()
    assert shown["id"] == theirs and shown["state"] == "refused"
    assert "The author of a new record must be you: user:xiaowang." in shown["reasons"][0]


def test_the_local_database_path_comes_from_the_environment(
    embedded: County, tmp_path: Path
) -> None:
    db = tmp_path / "from-env.sqlite"
    runner = CliRunner(env={local.DB_ENV: str(db)})
    assert runner.invoke(main, ["sync", embedded.db_url("xiaowang")]).exit_code == 0
    made = runner.invoke(main, ["record", "patrol", *PATROL])
    assert made.exit_code == 0, made.output
    assert list(states(db)) == [made.stdout.strip()]


def test_values_are_read_by_their_fields_kind(embedded: County, tmp_path: Path) -> None:
    db = tmp_path / "laptop.sqlite"
    assert field(db, "sync", embedded.db_url("xiaowang")).exit_code == 0
    incident = [
        *sets("incidents.0.kind=fraud", "incidents.0.description=冒充公安来电"),
        *sets("incidents.0.resolved=是", 'track=[{"lat": 29.5, "lon": 109.4,'),
        *sets("participants=user:xiaowang,user:lihua"),
    ]
    refused = field(db, "record", "patrol", *PATROL, *incident)
    # The unfinished JSON is kept as typed, and the schema says what is wrong with it.
    assert refused.exit_code == 1 and "track（巡逻轨迹）：必须是列表。" in refused.stderr
    track = '--set=track=[{"lat": 29.5, "lon": 109.4, "at": "2024-09-01T08:00:00+08:00"}]'
    doc_id = saved_id(field(db, "record", "patrol", *PATROL, *incident, track))
    with SqliteStore(db) as store:
        doc = store.get(doc_id)
    assert doc["incidents"] == [{"kind": "fraud", "description": "冒充公安来电", "resolved": True}]
    assert doc["participants"] == ["user:xiaowang", "user:lihua"] and len(doc["track"]) == 1
    edited = field(
        db, "record", "patrol", "--edit", doc_id, "--unset", "track", "--set", "zone=二组"
    )
    assert saved_id(edited) == doc_id
    with SqliteStore(db) as store:
        doc = store.get(doc_id)
    assert "track" not in doc and doc["zone"] == "二组" and doc["_rev"].startswith("2-")
    for args, expected in (
        (["--set", "type=water_source"], "type is filled in by fieldsync"),
        (["--set", "review.state=approved"], "review is filled in by fieldsync"),
        (["--set", "participants.first=user:lihua"], "participants is a list"),
        (["--set", "zone"], "--set takes FIELD=VALUE"),
    ):
        result = field(db, "record", "patrol", *PATROL, *args)
        assert result.exit_code == 1 and expected in one_line(result.output), args


def test_status_lists_conflicts_kept_on_this_device(tmp_path: Path) -> None:
    """Two devices' edits of one record, both kept: status names the record and both
    revisions."""
    db = tmp_path / "laptop.sqlite"
    with SqliteStore(db) as store:
        who = local.remember_identity(store, "xiaowang")
        base = {"_id": "household:01J6Z3M4Q8XK2V7N5R0T9B1C3D", "type": "household"}
        for rev, size in (("2-aaaa", 2), ("2-bbbb", 3)):
            store.put(
                {
                    **base,
                    "size": size,
                    "_rev": rev,
                    "_revisions": {"start": 2, "ids": [rev[2:], "1"]},
                },
                new_edits=False,
            )
        view = look(store, who, local.push_seq(store))
    assert view.conflicted == {base["_id"]: ["2-bbbb", "2-aaaa"]}
    status = field(db, "status")
    assert status.exit_code == 0, status.output
    assert "冲突 1 条。 / Conflicts: 1." in status.stdout
    assert f"{base['_id']}: 2-bbbb, 2-aaaa" in status.stdout
