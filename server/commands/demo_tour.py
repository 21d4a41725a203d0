"""The demo's walk-through of what the document core guarantees, on the demo county:
a bad record refused with bilingual reasons, a retried save giving the same
revision, and two tablets' offline edits kept as a conflict."""

from __future__ import annotations

import json
from pathlib import Path

import click

from schemas import DocumentInvalid, validate_document
from sync import SqliteStore, Store
from sync.errors import StoreError

from ..demo_county import DemoCounty


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
