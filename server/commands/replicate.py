"""`fieldsync replicate SOURCE TARGET`: the replicator between any two stores."""

from __future__ import annotations

from contextlib import ExitStack

import click

from schemas.merge import resolver_for
from sync.conflicts import resolve_conflicts
from sync.open import open_store
from sync.replicator import DEFAULT_BATCH_SIZE, ReplicationResult
from sync.replicator import replicate as replicate_stores

from .failures import at, safe_location


@click.command()
@click.argument("source")
@click.argument("target")
@click.option("--both-ways", is_flag=True, help="Sync: SOURCE to TARGET, then back.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Documents per changes/revs_diff/bulk_docs round.",
)
@click.option("--doc-id", "doc_ids", multiple=True, help="Only these documents (repeatable).")
@click.option(
    "--place",
    "places",
    multiple=True,
    help="Only documents in this place code's subtree (repeatable).",
)
@click.option(
    "--resolve", is_flag=True, help="Afterwards, merge conflicts on TARGET with the domain rules."
)
def replicate(
    source: str,
    target: str,
    both_ways: bool,
    batch_size: int,
    doc_ids: tuple[str, ...],
    places: tuple[str, ...],
    resolve: bool,
) -> None:
    """Replicate SOURCE to TARGET (paths of SQLite files or CouchDB URLs such as
    http://NAME:PASSWORD@HOST:5984/db). SOURCE must exist; a missing TARGET is created.
    从源库复制到目标库（SQLite 文件路径或 CouchDB 地址）；源库须已存在。"""
    with ExitStack() as stack:
        with at(source):
            # Never create a source: a mistyped name would replicate nothing, quietly.
            src = stack.enter_context(open_store(source, create=False))
            src.info()  # logs in now, so a wrong password or address is named here
        with at(target):
            dst = stack.enter_context(open_store(target))
        names = safe_location(source), safe_location(target)
        pairs = [(src, dst, names), (dst, src, names[::-1])] if both_ways else [(src, dst, names)]
        failed = 0
        for a, b, (a_name, b_name) in pairs:
            click.echo(f"{a_name} -> {b_name}", err=True)
            with at(f"{a_name} -> {b_name}"):
                result = replicate_stores(
                    a,
                    b,
                    batch_size=batch_size,
                    doc_ids=list(doc_ids) or None,
                    place_scope=list(places) or None,
                    progress=_show_progress,
                )
            click.echo(
                f"\nread 读取 {result.docs_read}, written 写入 {result.docs_written}, "
                f"failures 失败 {result.doc_write_failures}",
                err=True,
            )
            for failure in result.failures:
                click.echo(
                    f"  {failure.get('id')}: {failure.get('error')} {failure.get('reason')}",
                    err=True,
                )
            failed += result.doc_write_failures
        if resolve:
            with at(names[1]):
                merged = resolve_conflicts(dst, resolver_for)
            click.echo(
                f"conflicts merged 冲突已合并 {len(merged.resolved)}, left for a person "
                f"待人工处理 {len(merged.left_for_person)}",
                err=True,
            )
    if failed:
        raise SystemExit(1)  # each refused document is listed above


def _show_progress(result: ReplicationResult) -> None:
    click.echo(
        f"\r  batches 批次 {result.batches}  read 读取 {result.docs_read}  "
        f"written 写入 {result.docs_written}  failures 失败 "
        f"{result.doc_write_failures}",
        nl=False,
        err=True,
    )
