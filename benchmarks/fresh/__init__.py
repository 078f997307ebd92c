"""What the benchmarks run in a fresh interpreter, as a pod or a new Lambda container would: each a module run
with ``python -m benchmarks.fresh.<name>`` through ``benchmarks.common.run_fresh``, reporting one JSON line on
stdout. None imports ``workflows`` before ``use_tree`` has put the tree under test first on ``sys.path``."""

from __future__ import annotations

import os
import sys


def use_tree() -> str:
    """Put the tree under test (``NST_BENCH_TREE``: this checkout, or another commit's files) first on
    ``sys.path``, so the ``workflows`` imported after this is that tree's; returns its path."""
    tree = os.environ.get("NST_BENCH_TREE", "")
    if tree and tree not in sys.path:
        sys.path.insert(0, tree)
    return tree
