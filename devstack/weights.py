"""Fail fast, in one line, when the VGG19 weights that ``NST_VGG19_WEIGHTS`` names cannot be loaded.

``make demo`` and ``make dev`` call :func:`check` before starting anything; ``make bench`` runs
``python -m devstack.weights bench`` first. Otherwise a missing file or an offline machine surfaces minutes later
as a long Keras/urllib traceback from inside a task.
"""

from __future__ import annotations

import sys

from workflows.engine.networks.vgg_features import (
    WeightsSource,
    WeightsUnavailableError,
    feature_extractor,
    weights_from_env,
)


def check(target: str) -> WeightsSource:
    """Load (and, for ``imagenet``, fetch once into the Keras cache) the weights; SystemExit with one line if not.

    ``target`` is the make target the advice names.
    """
    try:
        source = weights_from_env()
        feature_extractor(source)
    except WeightsUnavailableError as exc:
        raise SystemExit(
            f"[{target}] {exc}. Offline? `make {target} NST_VGG19_WEIGHTS=random` runs without them "
            "(the output is then not a real stylization)"
        ) from None
    return source


def main(argv: list[str]) -> int:
    target = argv[0] if argv else "bench"
    check(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
