"""`fieldsync admin` and `fieldsync serve`, driven as an operator would: through the
command line, configured by FIELDSYNC_* variables, on a real data directory."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner, Result

from schemas import place_level, place_parent, validate_document
from server.app import create_app
from server.commands.cli import main

PASSWORD = "白岩村-station-1"

PLACES = [
    {"type": "place", "code": "422827", "name_zh": "来凤县", "name_en": "Laifeng County"},
    {"type": "place", "code": "422827100", "name_zh": "翔凤镇"},
    {"type": "place", "code": "422827100001", "name_zh": "白岩村"},
    {"type": "place", "code": "422827100001001", "name_zh": "白岩村第1网格"},
    {"type": "place", "code": "422827100001002", "name_zh": "白岩村第2网格"},
]
TEAM = {
    "type": "team",
    "id": "team:422827100001",
    "place": "422827100001",
    "name": "张富清先锋队白岩村小队",
    "level": "village",
    "captain": "user:tian",
    "member_count": "8",
}
STATION = {
    "type": "station",
    "place": "422827100001",
    "name": "白岩村志愿服务站",
    "kind": "station",
    "lead": "user:tian",
    "grids": "422827100001001;422827100001002",
}
USERS = [
    {"type": "user", "username": "tian", "password": PASSWORD, "role": "station_lead",
     "scope": "422827100001", "display_name": "田秀英", "team": "team:422827100001"},
    {"type": "user", "username": "xiang", "password": PASSWORD, "role": "volunteer",
     "scope": "422827100001001", "display_name": "向国强"},
]  # fmt: skip


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "county"


@pytest.fixture
def fieldsync(data_dir: Path):  # noqa: ANN201 - returns a callable
    """Run `fieldsync ARGS...` with the county configured by environment variables, on
    a county made with `admin init` (empty: `seed_county` adds places, team, station)."""
    runner = CliRunner(env={"FIELDSYNC_DATA_DIR": str(data_dir), "FIELDSYNC_COUCHDB_URL": None})

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), input=input)

    assert run("admin", "init").exit_code == 0
    return run


def county(data_dir: Path) -> tuple[list[str], dict[str, dict]]:
    """(usernames, documents by id) as the server sees them."""
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "x"})
    try:
        services = app.extensions["fieldsync"]
        names = [user.username for user in services.users.list_users()]
        docs = {row["id"]: row["doc"] for row in services.store.all_docs(include_docs=True)}
        return names, docs
    finally:
        app.extensions["fieldsync"].close()


def authenticate(data_dir: Path, username: str, password: str) -> object:
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "x"})
    try:
        return app.extensions["fieldsync"].users.authenticate(username, password)
    finally:
        app.extensions["fieldsync"].close()


def write_csv(path: Path, rows: list[dict]) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_yaml(path: Path, rows: list[dict]) -> Path:
    sections: dict[str, list[dict]] = {}
    for row in rows:
        data = {key: value for key, value in row.items() if key != "type"}
        sections.setdefault(f"{row['type']}s", []).append(data)
    path.write_text(yaml.safe_dump(sections, allow_unicode=True), encoding="utf-8")
    return path


def seed_county(data_dir: Path) -> None:
    """A county as the server makes it, holding PLACES, TEAM and STATION (no accounts)."""
    now = "2024-03-01T08:00:00+08:00"
    envelope = {"schema_version": 1, "author": "user:admin", "device": "admin-cli",
                "created_at": now, "updated_at": now}  # fmt: skip
    docs = []
    for row in PLACES:
        code = row["code"]
        doc = {**row, **envelope, "_id": f"place:{code}", "place": code,
               "level": place_level(code)}  # fmt: skip
        if place_parent(code):
            doc["parent"] = place_parent(code)
        docs.append(doc)
    team = {k: v for k, v in TEAM.items() if k != "id"}
    docs.append({**team, **envelope, "_id": TEAM["id"], "member_count": 8})
    station = {**STATION, **envelope, "_id": f"station:{STATION['place']}"}
    docs.append({**station, "grids": STATION["grids"].split(";")})
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "x"})
    try:
        rows = app.extensions["fieldsync"].store.bulk_docs([validate_document(d) for d in docs])
        assert all(row.get("ok") for row in rows), rows
    finally:
        app.extensions["fieldsync"].close()


# -- regressions: no silent empty county, no user outside the places, accounts on the roster --


def test_admin_without_a_county_refuses_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # beside data/demo, as `./dev demo` leaves it
    runner = CliRunner(env={"FIELDSYNC_DATA_DIR": None})
    result = runner.invoke(main, ["admin", "list-users"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].count("。 / ") == 1 and "fieldsync admin init" in lines[-1]
    assert "data/county" in lines[-1]
    assert list(tmp_path.iterdir()) == []  # no data/county made


def test_create_user_refuses_a_scope_with_no_place(fieldsync, data_dir: Path) -> None:
    seed_county(data_dir)
    result = fieldsync(
        "admin", "create-user", "tian", "--role", "volunteer", "--scope", "999999",
        "--display-name", "田秀英", "--password-stdin", input=PASSWORD,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "999999" in result.output and "。 / " in result.output
    assert county(data_dir)[0] == []


def test_create_user_writes_a_linked_user_document(fieldsync, data_dir: Path) -> None:
    seed_county(data_dir)
    result = fieldsync(
        "admin", "create-user", "tian", "--role", "station_lead", "--scope", "422827100001",
        "--display-name", "田秀英", "--team", "team:422827100001",
        "--station", "station:422827100001", "--password-stdin", input=PASSWORD,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = county(data_dir)[1]["user:tian"]
    assert (doc["display_name"], doc["role"], doc["scope"], doc["place"]) == (
        "田秀英", "station_lead", "422827100001", "422827100001",
    )  # fmt: skip
    assert doc["team"] == "team:422827100001" and doc["station"] == "station:422827100001"
    assert (doc["author"], doc["device"], doc["active"]) == ("user:admin", "admin-cli", True)
    listing = fieldsync("admin", "list-users")
    assert "田秀英" in listing.output and "station:422827100001" in listing.output


def test_init_makes_a_county_on_purpose_and_only_in_a_new_or_empty_directory(
    tmp_path: Path,
) -> None:
    runner = CliRunner(env={"FIELDSYNC_DATA_DIR": None, "FIELDSYNC_COUCHDB_URL": None})
    new = tmp_path / "new"
    made = runner.invoke(main, ["admin", "init", "--data-dir", str(new)])
    assert made.exit_code == 0 and "Created a county" in made.output
    assert {"county.sqlite", "gateway.sqlite", "secret_key"} <= {p.name for p in new.iterdir()}
    again = runner.invoke(main, ["admin", "init", "--data-dir", str(new)])
    assert again.exit_code == 0 and "nothing changed" in again.output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    refused = runner.invoke(main, ["admin", "init", "--data-dir", str(mine)])
    assert refused.exit_code == 1 and "notes.txt" in refused.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_data_dir_option_beats_the_variable_and_the_county_is_named(
    fieldsync, data_dir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    assert fieldsync("admin", "init", "--data-dir", str(other)).exit_code == 0
    seed_county(other)
    result = fieldsync("admin", "create-user", "tian", "--role", "volunteer", "--scope",
                       "422827", "--display-name", "田秀英", "--password-stdin",
                       "--data-dir", str(other), input=PASSWORD)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"县级数据 County: {other.resolve()}" in result.stderr.splitlines()[0]
    assert county(other)[0] == ["tian"] and county(data_dir)[0] == []


def test_a_county_on_couchdb_is_named_without_credentials(data_dir: Path) -> None:
    env = {"FIELDSYNC_DATA_DIR": str(data_dir),
           "FIELDSYNC_COUCHDB_URL": "http://admin:s3cret@127.0.0.1:9/county"}  # fmt: skip
    result = CliRunner(env=env).invoke(main, ["admin", "list-users"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert "http://127.0.0.1:9/county" in line and "s3cret" not in line
    assert "fieldsync admin init" in line and not data_dir.exists()


def test_import_enrols_users_with_stations_of_the_same_file(
    fieldsync, data_dir: Path, tmp_path: Path
) -> None:
    user = {**USERS[1], "station": "station:422827100001", "team": "team:422827100001"}
    file = write_csv(tmp_path / "county.csv", [*PLACES, TEAM, STATION, user])
    result = fieldsync("admin", "import", str(file), "--author", "it")
    assert result.exit_code == 0, result.output
    doc = county(data_dir)[1]["user:xiang"]
    assert (doc["station"], doc["team"], doc["author"]) == (
        "station:422827100001", "team:422827100001", "user:it",
    )  # fmt: skip
    elsewhere = {**USERS[0], "username": "peng", "station": "station:422827100009"}
    refused = fieldsync("admin", "import", str(write_csv(tmp_path / "b.csv", [elsewhere])))
    assert refused.exit_code == 1 and "There is no station station:422827100009" in refused.output


# -- accounts ---------------------------------------------------------------------------------


def test_create_user_with_password_on_stdin(fieldsync, data_dir: Path) -> None:
    seed_county(data_dir)
    result = fieldsync(
        "admin", "create-user", "tian", "--role", "station_lead", "--scope", "422827100001",
        "--display-name", "田秀英", "--team", "team:422827100001", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Created 已创建: tian" in result.output
    user = authenticate(data_dir, "tian", PASSWORD)
    assert user.display_name == "田秀英" and user.role == "station_lead"
    listing = fieldsync("admin", "list-users")
    assert listing.exit_code == 0
    assert (
        "tian\tstation_lead\t422827100001\tyes 是\t田秀英\tteam:422827100001\t-" in listing.output
    )


def test_create_user_asks_for_the_password_twice_hidden(fieldsync, data_dir: Path) -> None:
    seed_county(data_dir)
    result = fieldsync(
        "admin", "create-user", "xiang", "--role", "volunteer", "--scope", "422827100001001",
        "--display-name", "向国强", input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Password 密码" in result.output and PASSWORD not in result.output  # hidden
    assert authenticate(data_dir, "xiang", PASSWORD) is not None


@pytest.mark.parametrize(
    ("args", "password", "english"),
    [
        (["--role", "volunteer", "--scope", "4228"], PASSWORD, "Scope must be a place code"),
        (["--role", "volunteer", "--scope", "422827"], "short", "at least 8 characters"),
        (["--role", "volunteer", "--scope", "422827100002"], PASSWORD, "no place 422827100002"),
        (["--role", "county_staff", "--scope", "422827", "--team", "team:422827100001"],
         PASSWORD, "neither at nor above the user's scope 422827"),
        (["--role", "volunteer", "--scope", "422827", "--station", "team:422827100001"],
         PASSWORD, "team:422827100001 is not a station"),
    ],
)  # fmt: skip
def test_create_user_refuses_bad_input_in_both_languages(
    fieldsync, data_dir: Path, args: list[str], password: str, english: str
) -> None:
    seed_county(data_dir)
    result = fieldsync("admin", "create-user", "tian", *args, "--display-name", "田秀英",
                       "--password-stdin", input=password)  # fmt: skip
    assert result.exit_code == 1
    assert english in result.output and result.output.strip().splitlines()[-1].count("。 / ") == 1
    assert county(data_dir)[0] == []


def test_create_user_refuses_a_taken_name_and_an_unknown_role(fieldsync, data_dir: Path) -> None:
    seed_county(data_dir)
    args = ["admin", "create-user", "tian", "--scope", "422827", "--display-name", "田秀英",
            "--password-stdin"]  # fmt: skip
    assert fieldsync(*args, "--role", "admin", input=PASSWORD).exit_code == 0
    taken = fieldsync(*args, "--role", "admin", input=PASSWORD)
    assert taken.exit_code == 1 and "用户名已存在" in taken.output
    unknown_role = fieldsync(*args, "--role", "wizard", input=PASSWORD)
    assert unknown_role.exit_code == 2 and "Usage error" in unknown_role.output
    assert len(unknown_role.output.strip().splitlines()) == 1
    nameless = fieldsync("admin", "create-user", "xiang", "--role", "volunteer", "--scope",
                         "422827", "--password-stdin", input=PASSWORD)  # fmt: skip
    assert nameless.exit_code == 1 and "needs a display_name" in nameless.output


def test_set_password_deactivate_and_activate(fieldsync, data_dir: Path) -> None:
    seed_county(data_dir)
    fieldsync("admin", "create-user", "tian", "--role", "volunteer", "--scope", "422827",
              "--display-name", "田秀英", "--password-stdin", input=PASSWORD)  # fmt: skip
    result = fieldsync(
        "admin", "set-password", "tian", "--password-stdin", input="新密码 new one\n"
    )
    assert result.exit_code == 0, result.output
    assert authenticate(data_dir, "tian", PASSWORD) is None
    assert authenticate(data_dir, "tian", "新密码 new one") is not None
    assert fieldsync("admin", "deactivate", "tian", "--author", "it").exit_code == 0
    assert authenticate(data_dir, "tian", "新密码 new one") is None
    document = county(data_dir)[1]["user:tian"]
    assert document["active"] is False and document["author"] == "user:it"
    assert "no 否" in fieldsync("admin", "list-users").output
    assert fieldsync("admin", "activate", "tian").exit_code == 0
    assert authenticate(data_dir, "tian", "新密码 new one") is not None
    assert county(data_dir)[1]["user:tian"]["active"] is True
    assert fieldsync("admin", "deactivate", "ghost").exit_code == 1
    missing = fieldsync("admin", "set-password", "ghost", "--password-stdin", input=PASSWORD)
    assert missing.exit_code == 1 and "No such user" in missing.output


# -- import ------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_csv, write_yaml], ids=["csv", "yaml"])
def test_import_users_places_teams_and_stations(
    fieldsync, data_dir: Path, tmp_path: Path, writer
) -> None:
    file = writer(tmp_path / ("county.csv" if writer is write_csv else "county.yaml"),
                  [*PLACES, TEAM, STATION, *USERS])  # fmt: skip
    result = fieldsync("admin", "import", str(file))
    assert result.exit_code == 0, result.output
    assert "users 用户 2, documents 文档 7" in result.output
    assert "users 用户" in result.output and "documents 文档" in result.output  # progress bars
    names, docs = county(data_dir)
    assert names == ["tian", "xiang"]
    assert sorted(docs) == [
        "place:422827", "place:422827100", "place:422827100001", "place:422827100001001",
        "place:422827100001002", "station:422827100001", "team:422827100001",
        "user:tian", "user:xiang",
    ]  # fmt: skip
    assert docs["user:tian"]["display_name"] == "田秀英"
    assert docs["user:tian"]["team"] == "team:422827100001"
    village = docs["place:422827100001"]
    assert (village["level"], village["parent"], village["name_zh"]) == (
        "village", "422827100", "白岩村",
    )  # fmt: skip
    assert docs["team:422827100001"]["member_count"] == 8
    assert docs["station:422827100001"]["grids"] == ["422827100001001", "422827100001002"]
    assert docs["station:422827100001"]["author"] == "user:admin"
    assert authenticate(data_dir, "tian", PASSWORD).team == "team:422827100001"


def test_import_again_updates_documents(fieldsync, data_dir: Path, tmp_path: Path) -> None:
    fieldsync("admin", "import", str(write_csv(tmp_path / "a.csv", [*PLACES, TEAM])))
    renamed = {**TEAM, "name": "白岩村先锋小队", "member_count": "12"}
    result = fieldsync("admin", "import", str(write_csv(tmp_path / "b.csv", [renamed])))
    assert result.exit_code == 0, result.output
    team = county(data_dir)[1]["team:422827100001"]
    assert team["name"] == "白岩村先锋小队" and team["_rev"].startswith("2-")


@pytest.mark.parametrize("writer", [write_csv, write_yaml], ids=["csv", "yaml"])
def test_a_file_with_bad_rows_imports_nothing(
    fieldsync, data_dir: Path, tmp_path: Path, writer
) -> None:
    bad_team = {**TEAM, "member_count": "很多"}
    bad_user = {**USERS[1], "scope": "4228"}
    bad_place = {"type": "place", "code": "422827100002", "name_zh": "沙坝村", "level": "grid"}
    rows = [*PLACES, bad_team, STATION, USERS[0], bad_user, bad_place]
    file = writer(tmp_path / ("bad.csv" if writer is write_csv else "bad.yaml"), rows)
    result = fieldsync("admin", "import", str(file))
    assert result.exit_code == 1
    # tian's row is refused too: the team it names is a bad row, so it is not imported
    assert "4 bad rows; nothing was imported" in result.output
    assert "4 行有错误，未导入任何数据" in result.output
    if writer is write_csv:  # line 1 is the header
        assert "第 7 行 / line 7: " in result.output and "member_count" in result.output
        assert "line 9: " in result.output and "no team team:422827100001" in result.output
        assert "line 10: " in result.output and "Scope must be a place code" in result.output
        assert "line 11: " in result.output and "level" in result.output
    else:
        assert "teams 第 1 项 / teams #1: " in result.output
        assert "users #1: " in result.output and "no team team:422827100001" in result.output
        assert "users #2: " in result.output and "places #6: " in result.output
    assert county(data_dir) == ([], {})


def test_import_refuses_duplicates_and_existing_users(
    fieldsync, data_dir: Path, tmp_path: Path
) -> None:
    seed_county(data_dir)
    first = fieldsync("admin", "import", str(write_csv(tmp_path / "a.csv", [USERS[0]])))
    assert first.exit_code == 0, first.output
    before = county(data_dir)
    rows = [PLACES[0], PLACES[0], USERS[0], {"type": "village", "code": "422827"}]
    result = fieldsync("admin", "import", str(write_csv(tmp_path / "b.csv", rows)))
    assert result.exit_code == 1
    assert (
        "line 3: " in result.output and "Appears twice in the file: place:422827" in result.output
    )
    assert "line 4: " in result.output and "Username already exists" in result.output
    assert (
        "line 5: " in result.output and "type must be user, place, team or station" in result.output
    )
    assert county(data_dir) == before and before[0] == ["tian"]


def test_a_gbk_csv_is_refused_unless_its_encoding_is_given(
    fieldsync, data_dir: Path, tmp_path: Path
) -> None:
    file = write_csv(tmp_path / "excel.csv", PLACES[:3])
    file.write_bytes(file.read_text(encoding="utf-8").encode("gb18030"))  # a Chinese Excel's CSV
    refused = fieldsync("admin", "import", str(file))
    assert refused.exit_code == 1 and "--encoding gb18030" in refused.output
    assert county(data_dir)[1] == {}  # no mojibake stored
    result = fieldsync("admin", "import", str(file), "--encoding", "gb18030")
    assert result.exit_code == 0, result.output
    assert county(data_dir)[1]["place:422827100001"]["name_zh"] == "白岩村"


def test_import_refuses_other_file_types(fieldsync, tmp_path: Path) -> None:
    file = tmp_path / "county.json"
    file.write_text("{}")
    result = fieldsync("admin", "import", str(file))
    assert result.exit_code == 1 and ".csv, .yaml or .yml" in result.output


# -- serve -------------------------------------------------------------------------------------


def test_add_one_place_team_and_station(fieldsync, data_dir: Path) -> None:
    village = "422827100001"
    assert fieldsync("admin", "add", "place", f"code={village}", "name_zh=白岩村").exit_code == 0
    result = fieldsync(
        "admin",
        "add",
        "station",
        f"place={village}",
        "name=白岩村志愿服务站",
        "kind=station",
        "lead=user:laoli",
        f"grids={village}001;{village}002",
    )
    assert result.exit_code == 0, result.output
    _, docs = county(data_dir)
    assert docs[f"place:{village}"]["level"] == "village"
    assert docs[f"place:{village}"]["parent"] == village[:9]
    assert docs[f"station:{village}"]["grids"] == [f"{village}001", f"{village}002"]
    bad = fieldsync("admin", "add", "team", f"place={village}", "level=county")
    assert bad.exit_code != 0 and "nothing was imported" in bad.output
    assert fieldsync("admin", "add", "place", "no-equals-sign").exit_code != 0


def test_serve_refuses_a_directory_holding_no_county(data_dir: Path) -> None:
    """Found (with the admin commands): `fieldsync serve` silently created and served an
    empty county wherever FIELDSYNC_DATA_DIR (or its default) pointed."""
    fieldsync = str(Path(sys.executable).with_name("fieldsync"))
    env = {**os.environ, "FIELDSYNC_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [fieldsync, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert str(data_dir) in line and "fieldsync admin init" in line
    assert not data_dir.exists()


def test_serve_answers_health_under_waitress(data_dir: Path, fieldsync) -> None:  # noqa: ANN001
    assert fieldsync("admin", "init").exit_code == 0
    env = {**os.environ, "FIELDSYNC_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    # The installed `fieldsync` command, as an operator runs it.
    binary = str(Path(sys.executable).with_name("fieldsync"))
    command = [binary, "serve", "--port", "0", "--threads", "2"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        named = process.stderr.readline()  # which county it serves, for the operator
        assert named.startswith("县级数据 County: ") and str(data_dir) in named
        first = json.loads(process.stderr.readline())  # the JSON "serving" event
        assert first["event"] == "serving" and first["url"].startswith("http://127.0.0.1:")
        # Waiting feeds have threads of their own: the two workers stay free for others.
        assert (first["threads"], first["feed_threads"]) == (2, 400)
        answer = requests.get(first["url"] + "/health", timeout=10)
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        assert answer.headers["Server"] == "fieldsync"  # waitress, not Werkzeug's dev server
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    events = [json.loads(line)["event"] for line in rest.splitlines() if line.startswith("{")]
    assert events == ["request", "stopped"]
