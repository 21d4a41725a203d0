"""Revision trees: properties that must hold for any history, plus pinned examples."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import revtree
from sync.errors import BadRequest

HEX = "0123456789abcdef"


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, tuple[str | None, int]], list, set[str]]:
    """A random revision forest, cut into leaf-first paths (some partial).

    Returns (nodes {rev: (parent, depth)}, paths [(path, deleted)], deleted leaves).
    """
    count = draw(st.integers(1, 14))
    nodes: dict[str, tuple[str | None, int]] = {}
    order: list[str] = []
    for _ in range(count):
        parent = None
        if order and draw(st.integers(0, 5)) > 0:  # mostly extend, sometimes a new root
            parent = draw(st.sampled_from(order))
        depth = nodes[parent][1] + 1 if parent else 1
        rev = f"{depth}-{draw(st.text(HEX, min_size=32, max_size=32))}"
        if rev in nodes:
            continue
        nodes[rev] = (parent, depth)
        order.append(rev)
    parents = {parent for parent, _ in nodes.values()}
    leaves = [rev for rev in order if rev not in parents]
    deleted = {leaf for leaf in leaves if draw(st.booleans()) and draw(st.booleans())}
    paths = []
    for leaf in leaves:
        full = [leaf]
        while nodes[full[-1]][0] is not None:
            full.append(nodes[full[-1]][0])
        keep = draw(st.integers(1, len(full)))
        paths.append((full[:keep], leaf in deleted))
        if keep < len(full) and draw(st.booleans()):
            paths.append((full, leaf in deleted))
    return nodes, paths, deleted


def merge_all(paths: list) -> revtree.RevTree:
    tree: revtree.RevTree = {}
    for path, deleted in paths:
        tree = revtree.merge_path(tree, path, deleted)
    return tree


def summary(tree: revtree.RevTree) -> tuple:
    return (
        revtree.winning_rev(tree),
        revtree.conflicts(tree),
        revtree.deleted_conflicts(tree),
        revtree.leaves(tree),
    )


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_merge_order_never_matters(history: tuple, rnd: random.Random) -> None:
    _, paths, _ = history
    shuffled = list(paths)
    rnd.shuffle(shuffled)
    first, second = merge_all(paths), merge_all(shuffled)
    assert first == second
    assert summary(first) == summary(second)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_winner_follows_couchdb_rules(history: tuple) -> None:
    _, paths, deleted = history
    tree = merge_all(paths)
    leaves = revtree.leaves(tree)
    live = [leaf for leaf in leaves if leaf not in deleted]
    candidates = live or leaves
    expected = max(candidates, key=lambda r: (int(r.split("-")[0]), r.split("-")[1]))
    assert revtree.winning_rev(tree) == expected
    assert set(revtree.conflicts(tree)) == set(live) - {expected}
    assert set(revtree.deleted_conflicts(tree)) == set(leaves) - set(live) - {expected}


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(1, 6))
def test_stemming_never_changes_winner_or_conflicts(history: tuple, limit: int) -> None:
    _, paths, _ = history
    tree = merge_all(paths)
    stemmed = revtree.stem(tree, limit)
    assert summary(stemmed) == summary(tree)
    for leaf in revtree.leaves(tree):
        # each branch keeps its `limit` newest revisions...
        assert revtree.ancestry(stemmed, leaf)[:limit] == revtree.ancestry(tree, leaf, limit)
    for rev in stemmed:
        # ...and nothing older than `limit` on every branch survives
        assert any(rev in revtree.ancestry(tree, leaf, limit) for leaf in revtree.leaves(tree))


@settings(max_examples=200, deadline=None)
@given(histories(), st.integers(1, 4), st.integers(0, 10))
def test_stemming_commutes_with_merging(history: tuple, limit: int, cut: int) -> None:
    """Stemming as paths arrive (as a store does) ends where stemming once at the end does."""
    _, paths, _ = history
    tree: revtree.RevTree = {}
    for path, deleted in paths[:cut] + paths[cut:]:
        tree = revtree.stem(revtree.merge_path(tree, path, deleted), limit)
    assert summary(tree) == summary(revtree.stem(merge_all(paths), limit))


@settings(max_examples=200, deadline=None)
@given(histories())
def test_revisions_round_trip(history: tuple) -> None:
    _, paths, _ = history
    tree = merge_all(paths)
    for leaf in revtree.leaves(tree):
        path = revtree.ancestry(tree, leaf)
        assert revtree.path_from_revisions(revtree.revisions_of(path)) == path


def test_storage_form_round_trips() -> None:
    tree = revtree.merge_path({}, ["2-" + "b" * 32, "1-" + "a" * 32], deleted=True)
    assert revtree.tree_from_json(revtree.tree_to_json(tree)) == tree


# -- pinned examples ----------------------------------------------------------------------------


def test_deleted_leaf_loses_to_a_shorter_live_branch() -> None:
    tree = revtree.merge_path({}, ["3-" + "c" * 32, "2-" + "c" * 32, "1-" + "a" * 32], True)
    tree = revtree.merge_path(tree, ["2-" + "b" * 32, "1-" + "a" * 32], False)
    assert revtree.winning_rev(tree) == "2-" + "b" * 32
    assert revtree.deleted_conflicts(tree) == ["3-" + "c" * 32]
    assert not revtree.is_deleted(tree)


def test_all_leaves_deleted_means_deleted() -> None:
    tree = revtree.merge_path({}, ["2-" + "c" * 32, "1-" + "a" * 32], True)
    tree = revtree.merge_path(tree, ["2-" + "b" * 32, "1-" + "a" * 32], True)
    assert revtree.is_deleted(tree) and revtree.winning_rev(tree) == "2-" + "c" * 32


def test_a_stemmed_off_path_sent_again_stands_apart_as_couchdb_keeps_it() -> None:
    """CouchDB's couch_key_tree: a path that no longer meets the stemmed tree is a root of
    its own, its leaf a conflict (tests/test_differential_revtree.py pins this against
    CouchDB 3.5); the winner stays the deeper live leaf."""
    full = [f"{n}-{HEX[n] * 32}" for n in range(5, 0, -1)]
    tree = revtree.stem(revtree.merge_path({}, full, False), 2)
    assert set(tree) == set(full[:2])
    tree = revtree.merge_path(tree, full[2:], False)  # an old replica re-sends 3, 2 and 1
    assert revtree.leaves(tree) == [full[0], full[2]]
    assert revtree.conflicts(tree) == [full[2]]
    assert revtree.winning_rev(tree) == full[0]


def test_history_cannot_be_rewritten() -> None:
    tree = revtree.merge_path({}, ["2-" + "b" * 32, "1-" + "a" * 32], False)
    with pytest.raises(BadRequest, match="history cannot be rewritten"):
        revtree.merge_path(tree, ["2-" + "b" * 32, "1-" + "f" * 32], False)


def test_path_must_be_consecutive() -> None:
    with pytest.raises(BadRequest, match="not consecutive"):
        revtree.merge_path({}, ["3-" + "b" * 32, "1-" + "a" * 32], False)


@pytest.mark.parametrize(
    ("given_rev", "normal"),
    [
        ("1-" + "ABCDEF0123456789" * 2, "1-" + "abcdef0123456789" * 2),
        ("12-" + "0" * 32, "12-" + "0" * 32),
        ("3-short", "3-short"),
    ],
)
def test_rev_normal_form(given_rev: str, normal: str) -> None:
    assert revtree.normalize_rev(given_rev) == normal


@pytest.mark.parametrize(
    "bad", ["", "1", "0-" + "a" * 32, "-1-abc", "x-abc", "1-" + "g" * 32, "1-a b", 5, None]
)
def test_bad_revs_are_refused(bad: object) -> None:
    with pytest.raises(BadRequest, match="Invalid rev format"):
        revtree.parse_rev(bad)


def test_new_rev_is_deterministic() -> None:
    body = {"household": "household:01", "services": ["haircut"], "note": "每月理发"}
    first = revtree.new_rev("1-" + "a" * 32, False, body, ["md5-x"])
    assert first == revtree.new_rev("1-" + "a" * 32, False, dict(reversed(body.items())), ["md5-x"])
    assert first.startswith("2-") and len(first) == 34
    assert first != revtree.new_rev("1-" + "b" * 32, False, body, ["md5-x"])
    assert first != revtree.new_rev("1-" + "a" * 32, True, body, ["md5-x"])
    assert first != revtree.new_rev("1-" + "a" * 32, False, body, ["md5-y"])
    assert revtree.new_rev(None, False, body, []).startswith("1-")
