"""The `fieldsync` command: every command documented, the demo does what it says."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

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
    }
    assert len(conflicted) == 1  # the household both tablets edited offline


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
    from server.app import create_app
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
