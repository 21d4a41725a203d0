"""Rows of an import file (CSV or YAML) checked and turned into documents.

Pure reading and checking: nothing here touches the county. User rows become
account specs for the roster (server/accounts/roster.py); place, team and
station rows become validated documents with the envelope filled in.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as default
from pathlib import Path
from typing import Any

import click
import yaml

from schemas import CURRENT_VERSIONS, DocumentInvalid, place_level, place_parent, validate_document
from schemas.fields import Bool, Int, List, Number
from schemas.places import is_place_code
from schemas.registry import schema_for

from ..accounts.roster import DEVICE, timestamp

SECTIONS = {"users": "user", "places": "place", "teams": "team", "stations": "station"}
USER_FIELDS = ("username", "password", "role", "scope", "display_name", "team", "station")


@dataclass
class Row:
    label: str  # where the row is in the file, for error messages
    kind: str  # user, place, team or station
    data: dict[str, Any]


def read_rows(file: Path, encoding: str = "utf-8-sig") -> list[Row]:
    """Rows of a CSV file (a `type` column: user, place, team, station) or a YAML file
    (a mapping of sections `users`, `places`, `teams`, `stations` to lists)."""
    suffix = file.suffix.lower()
    try:
        if suffix == ".csv":
            return list(_csv_rows(file, encoding))
        if suffix in (".yaml", ".yml"):
            return list(_yaml_rows(file, encoding))
    except (UnicodeDecodeError, LookupError):
        # Never guess: a wrong guess would store mojibake in every name.
        raise click.ClickException(
            f"文件不是 {encoding} 编码；Excel 请另存为“CSV UTF-8”，或指定 --encoding gb18030。 / "
            f'The file is not {encoding}; save it from Excel as "CSV UTF-8", '
            "or pass --encoding gb18030."
        ) from None
    except (csv.Error, yaml.YAMLError) as exc:
        raise click.ClickException(f"无法读取文件。 / Cannot read the file: {exc}") from None
    raise click.ClickException(
        "文件须为 .csv、.yaml 或 .yml。 / The file must be .csv, .yaml or .yml."
    )


def _csv_rows(file: Path, encoding: str) -> Iterator[Row]:
    with file.open(encoding=encoding, newline="") as stream:  # utf-8-sig: Excel adds a BOM
        reader = csv.DictReader(stream)
        for data in reader:
            line = reader.line_num
            # Empty cells are absent fields: one file holds several kinds of row.
            data = {k.strip(): v.strip() for k, v in data.items() if k and v and v.strip()}
            kind = data.pop("type", "")
            yield Row(f"第 {line} 行 / line {line}", kind, data)


def _yaml_rows(file: Path, encoding: str) -> Iterator[Row]:
    content = yaml.safe_load(file.read_text(encoding=encoding)) or {}
    if (
        not isinstance(content, dict)
        or set(content) - set(SECTIONS)
        or not all(isinstance(items, list | None) for items in content.values())
    ):
        raise click.ClickException(
            "YAML 顶层须为 users、places、teams、stations 列表。 / "
            "The YAML top level must map users, places, teams, stations to lists."
        )
    for section, items in content.items():
        for number, data in enumerate(items or [], start=1):
            label = f"{section} 第 {number} 项 / {section} #{number}"
            yield Row(label, SECTIONS[section], data if isinstance(data, dict) else {})


@dataclass
class CheckedRows:
    """What the rows of a file hold, and what is wrong with them."""

    specs: list[dict] = default(default_factory=list)  # roster.enrol_many specs of user rows
    spec_rows: list[int] = default(default_factory=list)  # the row index of each spec
    docs: list[dict] = default(default_factory=list)  # validated places, teams, stations
    errors: dict[int, str] = default(default_factory=dict)  # row index -> bilingual reason


def check_rows(rows: list[Row], author: str) -> CheckedRows:
    """Validate every row on its own; the roster checks user rows against the county."""
    now = timestamp()
    checked = CheckedRows()
    seen: set[str] = set()
    for index, row in enumerate(rows):
        try:
            if row.kind == "user":
                spec = {**_user_spec(row.data), "author": author}
                key = f"user {spec['username']}"
            elif row.kind in ("place", "team", "station"):
                doc = validate_document(_document(row.kind, row.data, now, author))
                key = doc["_id"]
            else:
                raise ValueError(
                    "type 须为 user、place、team 或 station。 / "
                    "type must be user, place, team or station."
                )
            if key in seen:
                raise ValueError(f"文件中重复：{key}。 / Appears twice in the file: {key}.")
        except (ValueError, TypeError) as exc:
            checked.errors[index] = exc.reason if isinstance(exc, DocumentInvalid) else str(exc)
            continue
        seen.add(key)
        if row.kind == "user":
            checked.specs.append(spec)
            checked.spec_rows.append(index)
        else:
            checked.docs.append(doc)
    return checked


def _user_spec(data: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(USER_FIELDS))
    if unknown:
        raise ValueError(
            f"未知字段：{', '.join(unknown)}。 / Unknown fields: {', '.join(unknown)}."
        )
    # YAML reads 422827100001 or 12345678 as numbers; they are meant as text.
    spec = {key: str(value) if isinstance(value, int) else value for key, value in data.items()}
    for key in ("username", "password", "role", "scope"):
        spec.setdefault(key, "")
    return spec


def _document(kind: str, data: dict[str, Any], now: str, author: str) -> dict[str, Any]:
    """A full document from a row: typed values, and the envelope filled in."""
    doc = _typed(kind, data)
    if "id" in doc:
        doc["_id"] = doc.pop("id")
    code = doc.get("code")
    if kind == "place" and is_place_code(code):  # derivable from the code itself
        doc.setdefault("place", code)
        doc.setdefault("level", place_level(code))
        if place_parent(code):
            doc.setdefault("parent", place_parent(code))
    doc.setdefault("_id", f"{kind}:{code if kind == 'place' else doc.get('place')}")
    doc.setdefault("type", kind)
    doc.setdefault("schema_version", CURRENT_VERSIONS[kind])
    doc.setdefault("author", f"user:{author}")
    doc.setdefault("device", DEVICE)
    doc.setdefault("created_at", now)
    doc.setdefault("updated_at", now)
    return doc


def _typed(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """CSV cells are text and YAML guesses types; convert by each field's declared type."""
    fields = {f.data_key or name: f for name, f in schema_for(kind)._declared_fields.items()}
    return {key: _convert(fields.get(key), value) for key, value in data.items()}


def _convert(field: Any, value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(field, List):
        items = re.split(r"[;；\s]+", value) if isinstance(value, str) else value
        return [_convert(field.inner, item) for item in items or [] if item != ""]
    if isinstance(value, str) and isinstance(field, Int) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if isinstance(value, str) and isinstance(field, Number):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(value, str) and isinstance(field, Bool):
        return {"true": True, "false": False}.get(value.lower(), value)
    if isinstance(value, int) and not isinstance(value, bool) and not isinstance(field, Int):
        return str(value) if not isinstance(field, Number | Bool) else value
    return value
