"""The demo's walk-through of what the system guarantees, on the demo county: a bad
record refused with bilingual reasons, a retried save giving the same revision, two
tablets' offline edits kept as a conflict, and the county server's write policy."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import click
from flask import Flask

from schemas import DocumentInvalid, validate_document
from sync import SqliteStore, Store
from sync.errors import StoreError
from sync.http_client import quote_id

from ..demo_county import DemoCounty, recorded_by


def show_guarantees(county: DemoCounty, store: Store, data_dir: Path) -> None:
    """The three demonstrations, in order (the last writes two tablets in `data_dir`)."""
    _show_refusal(county)
    _show_retry(store)
    _show_offline_conflict(store, data_dir)


def _show_refusal(county: DemoCounty) -> None:
    village = county.villages[0]
    bad = county.home_visit(village, county._id("household"))
    bad["visited_at"] = "2024-08-25 09:30"  # no time zone, as an old tablet app sent it
    bad["volunteers"] = []
    try:
        validate_document(bad)
    except DocumentInvalid as exc:
        click.echo(
            "\n1. A bad record is refused with reasons in both languages "
            "错误记录被拒收，并给出中英文原因:"
        )
        for path, message in _flatten(exc.errors):
            click.echo(f"   {path}: {message}")


def _flatten(errors: object, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(errors, dict):
        return [
            item
            for key, value in errors.items()
            for item in _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [(prefix, e) for e in errors]
    if isinstance(errors, list):
        return [item for i, e in enumerate(errors) for item in _flatten(e, f"{prefix}[{i}]")]
    return [(prefix, str(errors))]


def _show_retry(store: Store) -> None:
    row = next(iter(store.all_docs(start_key="patrol:", limit=1, include_docs=True)))
    doc = {**row["doc"], "zone": row["doc"]["zone"] + "（复核）"}
    first = store.put(doc)
    again = store.put(doc)  # the answer was lost on a dropped link; the tablet retries
    click.echo(
        f"\n2. A retried save gives the same revision, not a conflict "
        f"重试保存不会产生冲突: {first} == {again}"
    )


def _show_offline_conflict(store: Store, data_dir: Path) -> None:
    row = next(iter(store.all_docs(start_key="household:", limit=1)))
    doc_id = row["id"]
    tablets = [SqliteStore(data_dir / f"tablet-{n}.sqlite") for n in (1, 2)]
    try:
        for tablet, size in zip(tablets, (3, 4), strict=True):
            _copy(store, tablet, doc_id)  # both tablets took the household to the village
            doc = tablet.get(doc_id)
            tablet.put({**doc, "size": size})  # and changed it with no signal
        for tablet in tablets:
            _copy(tablet, store, doc_id)  # back at the station, both sync
        merged = store.get(doc_id, conflicts=True)
        click.echo(
            "\n3. Two tablets edited the same household offline; both edits are kept "
            "两台平板离线修改同一户，两份修改都被保留:"
        )
        click.echo(
            f"   winner 胜出 {merged['_rev']} (size {merged['size']}), "
            f"conflicts 冲突 {merged.get('_conflicts', [])}"
        )
    finally:
        for tablet in tablets:
            tablet.close()


def _copy(source: Store, target: Store, doc_id: str) -> None:
    """Copy every leaf with its history (the replicator of the next issue does this in bulk)."""
    leaves = [item["ok"] for item in source.open_revs(doc_id, "all") if "ok" in item]
    failures = target.bulk_docs(leaves, new_edits=False)
    if failures:
        raise StoreError(json.dumps(failures, ensure_ascii=False))


def show_write_policy(app: Flask, volunteer: str, lead: str, password: str) -> None:
    """Pushes through the county server's own `/db/` (in process, as tablets would over
    HTTP): the write policy deciding who may write what."""
    client = app.test_client()
    county = DemoCounty(seed=20241202)
    village = county.villages[0]
    headers = {name: _basic(name, password) for name in (volunteer, lead)}

    def push(who: str, doc: dict) -> dict:
        answer = client.post("/db/_bulk_docs", json={"docs": [doc]}, headers=headers[who])
        (row,) = answer.get_json()
        return row

    own, theirs, forwarded = (
        recorded_by([county.patrol(village)], name)[0] for name in (volunteer, lead, volunteer)
    )
    click.echo("\n4. The county server decides who may write what 县级服务器把关谁能写什么:")
    steps = [
        (f"{volunteer} pushes a patrol of their own 志愿者提交自己的巡逻记录", volunteer, own),
        (f"{volunteer} pushes a patrol in {lead}'s name 志愿者冒用站长的名字", volunteer, theirs),
        (f"{lead} forwards a volunteer's patrol 站长转交志愿者的记录", lead, forwarded),
    ]
    for label, who, doc in steps:
        row = push(who, doc)
        outcome = "accepted 已接收" if row.get("ok") else f"not accepted 不予接收: {row['reason']}"
        click.echo(f"   {label}: {outcome}")
    stored = client.get(f"/db/{quote_id(own['_id'])}", headers=headers[volunteer]).get_json()
    answer = client.delete(
        f"/db/{quote_id(own['_id'])}", query_string={"rev": stored["_rev"]}, headers=headers[lead]
    )
    click.echo(
        f"   {lead} deletes it as the station's lead 站长可删除本站记录: "
        + ("accepted 已接收" if answer.status_code == 201 else answer.get_json()["reason"])
    )


def _basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}", "X-Fieldsync-Device": f"demo-{username}"}
