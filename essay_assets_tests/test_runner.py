"""The run driver behind `essays run` (cli/runner.py)."""

from __future__ import annotations

from essay_assets.cli.runner import contiguous_blocks


def test_contiguous_blocks_group_neighbouring_partitions():
    order = ["a", "b", "c", "d", "e"]
    assert contiguous_blocks(order, ["b", "c", "e"]) == [("b", "c"), ("e", "e")]
    assert contiguous_blocks(order, ["e", "a"]) == [("a", "a"), ("e", "e")]
