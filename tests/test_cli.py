"""The `fieldsync` command: every command documented, the demo does what it says."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner, Result

from server.app import create_app
from server.commands.cli import main
from sync import SqliteStore

README = Path(__file__).resolve().parent.parent / "README.md"


def all_commands(group: click.Group, prefix: str = "fieldsync") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found += all_commands(command, f"{prefix} {name}")
    return found


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    commands = all_commands(main)
    assert commands
    for name, command in commands:
        assert command.help and command.help.strip(), f"{name} has no help text"
        assert name in readme, f"{name} is not documented in README.md"


def test_demo_builds_a_valid_county_and_shows_the_guarantees(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = CliRunner().invoke(
        main, ["demo", "--data-dir", str(data_dir), "--rounds", "1", "--no-serve"]
    )
    assert result.exit_code == 0, result.output
    assert "refused 拒收" not in result.output  # every generated document is valid
    assert "缺少时区" in result.output and "Time zone missing" in result.output
    first, again = result.output.split("不会产生冲突: ")[1].split("\n")[0].split(" == ")
    assert first == again
    with SqliteStore(data_dir / "county.sqlite") as store:
        info = store.info()
        types = {row["doc"]["type"] for row in store.all_docs(include_docs=True)}
        conflicted = [row for row in store.changes(style="all_docs") if len(row["changes"]) > 1]
    assert info["doc_count"] > 400
    assert types == {
        "place",
        "team",
        "station",
        "user",
        "household",
        "home_visit",
        "patrol",
        "water_source",
        "rejection_notice",  # the write policy's demonstration: a patrol in another's name
    }
    assert len(conflicted) == 1  # the household both tablets edited offline
    policy = result.output.split("4. The county server decides")[1]
    assert policy.count("accepted 已接收") == 3 and policy.count("不予接收") == 1
    assert "The author of a new record must be you: user:xiaowang." in policy


def test_replicate_command_copies_scoped_data_and_merges_conflicts(tmp_path: Path) -> None:
    runner = CliRunner()
    county = tmp_path / "demo" / "county.sqlite"
    assert (
        runner.invoke(
            main, ["demo", "--data-dir", str(county.parent), "--rounds", "1", "--no-serve"]
        ).exit_code
        == 0
    )
    hub = tmp_path / "hub.sqlite"
    result = runner.invoke(
        main, ["replicate", str(county), str(hub), "--place", "422827100", "--batch-size", "20"]
    )
    assert result.exit_code == 0, result.output
    assert "failures 失败 0" in result.output
    with SqliteStore(hub) as store:
        places = {row["doc"].get("place", "") for row in store.all_docs(include_docs=True)}
    assert places and all(place.startswith("422827100") for place in places)

    result = runner.invoke(main, ["replicate", str(county), str(hub), "--both-ways", "--resolve"])
    assert result.exit_code == 0, result.output
    assert "conflicts merged 冲突已合并 1" in result.output


def test_demo_county_is_served_with_scoped_demo_accounts(tmp_path: Path) -> None:
    from sync.http_client import basic_auth

    data_dir = tmp_path / "demo"
    result = CliRunner().invoke(
        main, ["demo", "--data-dir", str(data_dir), "--rounds", "1", "--no-serve"]
    )
    assert result.exit_code == 0, result.output
    assert "xiaowang" in result.output and "demo-pass-2024" in result.output
    app = create_app({"DATA_DIR": str(data_dir), "TESTING": True})
    try:
        client = app.test_client()
        auth = {"Authorization": basic_auth("xiaowang", "demo-pass-2024")}
        rows = client.get("/db/_changes?include_docs=true", headers=auth).get_json()["results"]
        places = {row["doc"]["place"] for row in rows if not row.get("deleted")}
        assert rows and all(place.startswith("422827100001") for place in places)
        assert client.get("/db/_changes").status_code == 401
    finally:
        app.extensions["fieldsync"].close()


# -- regressions: the demo never destroys what it did not create ------------------------------


def run_demo(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["demo", "--data-dir", str(data_dir), "--rounds", "1", "--no-serve", *args]
    )


def test_demo_refuses_a_directory_it_did_not_create(tmp_path: Path) -> None:
    data_dir = tmp_path / "mine"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("村里的记录")
    result = run_demo(data_dir)
    assert result.exit_code == 1
    assert (data_dir / "notes.txt").read_text() == "村里的记录"
    assert sorted(p.name for p in data_dir.iterdir()) == ["notes.txt"]
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(data_dir) in lines[0] and "。 / " in lines[0]


def test_demo_run_again_keeps_accounts_and_records_added_since(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    assert run_demo(data_dir).exit_code == 0
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "x"})
    try:
        services = app.extensions["fieldsync"]
        services.users.create("tian", "a-long-password", "volunteer", "422827100001")
        services.store.put({"_id": "note:added-since", "text": "keep me"})
    finally:
        app.extensions["fieldsync"].close()
    (data_dir / "notes.txt").write_text("mine")

    again = run_demo(data_dir)
    assert again.exit_code == 0, again.output
    assert (data_dir / "notes.txt").read_text() == "mine"
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "x"})
    try:
        services = app.extensions["fieldsync"]
        assert services.users.get("tian") is not None
        assert services.store.get("note:added-since")["text"] == "keep me"
    finally:
        app.extensions["fieldsync"].close()
    assert "--rebuild" in again.output and "kept" in again.output


def test_demo_accounts_are_roster_members(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    assert run_demo(data_dir).exit_code == 0
    village = "422827100001"
    with SqliteStore(data_dir / "county.sqlite") as store:
        xiaowang, laoli = store.get("user:xiaowang"), store.get("user:laoli")
        station = store.get(f"station:{village}")
        generated = store.get(f"user:v{village}-03")
    assert (xiaowang["display_name"], xiaowang["role"], xiaowang["scope"]) == (
        "王小明", "volunteer", village,
    )  # fmt: skip
    assert xiaowang["station"] == laoli["station"] == f"station:{village}"
    assert xiaowang["team"] == f"team:{village}" and laoli["role"] == "station_lead"
    assert station["lead"] == "user:laoli"
    assert generated["station"] == f"station:{village}"
    listing = CliRunner().invoke(main, ["admin", "list-users", "--data-dir", str(data_dir)])
    assert listing.exit_code == 0, listing.output
    assert "王小明" in listing.output and "陈科" in listing.output


def test_demo_rebuild_deletes_only_the_files_its_marker_lists(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    assert run_demo(data_dir).exit_code == 0
    marker = json.loads((data_dir / "fieldsync-demo.json").read_text(encoding="utf-8"))
    assert marker["complete"] is True and "county.sqlite" in marker["files"]
    (data_dir / "notes.txt").write_text("mine")
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "x"})
    try:
        app.extensions["fieldsync"].users.create("tian", "a-long-password", "admin", "422827")
    finally:
        app.extensions["fieldsync"].close()
    result = run_demo(data_dir, "--rebuild")
    assert result.exit_code == 0, result.output
    assert "county.sqlite" in result.output.split("deleted 已删除")[1].splitlines()[0]
    assert (data_dir / "notes.txt").read_text() == "mine"
    assert (
        authenticate_demo(data_dir, "tian", "a-long-password") is None
    )  # deleted on purpose, with the county
    assert authenticate_demo(data_dir, "xiaowang") is not None


def test_an_interrupted_demo_build_needs_rebuild(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    assert run_demo(data_dir).exit_code == 0
    marker = data_dir / "fieldsync-demo.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "complete": False}))
    refused = run_demo(data_dir)
    assert refused.exit_code == 1 and "--rebuild" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert run_demo(data_dir, "--rebuild").exit_code == 0
    assert run_demo(data_dir).exit_code == 0


def test_demo_never_claims_a_file_it_did_not_make(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    assert run_demo(data_dir).exit_code == 0
    marker = data_dir / "fieldsync-demo.json"
    listed = json.loads(marker.read_text())
    # A hand-edited marker: a path outside the directory, and a file the demo never made.
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    listed["files"] += ["../outside.txt", str(outside)]
    marker.write_text(json.dumps(listed))
    assert run_demo(data_dir, "--rebuild").exit_code == 0
    assert outside.read_text() == "keep"


def authenticate_demo(data_dir: Path, username: str, password: str = "demo-pass-2024") -> object:
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "x"})
    try:
        return app.extensions["fieldsync"].users.authenticate(username, password)
    finally:
        app.extensions["fieldsync"].close()
