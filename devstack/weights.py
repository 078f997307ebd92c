"""Which trained weights ``make demo`` and ``make dev`` use, decided in seconds and said in one line.

``make demo`` and ``make dev`` call :func:`choose` before starting anything; ``make bench`` runs
``python -m devstack.weights bench`` first. Otherwise a missing file or an offline machine surfaces minutes later
as a long Keras/urllib traceback from inside a task.

Offline, with ``NST_VGG19_WEIGHTS`` left unset, the ImageNet VGG19 weights cannot be fetched. Rather than stop (or
paint with random weights, which only returns the photo), the local stack then runs on the trained VGG16 stand-in
(``network=vgg16``, ``NST_VGG16_WEIGHTS=stand-in``): a newcomer sees a real painting, and every artefact says it
was made by the stand-in, not the production network. A setting given explicitly is obeyed, or refused in one line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from devstack.launcher import LOCAL_NETWORK_ENV
from workflows.engine.networks import vgg16_stand_in
from workflows.engine.networks.vgg_features import (
    WEIGHTS_ENV,
    WeightsSource,
    WeightsUnavailableError,
    feature_extractor,
    weights_from_env,
)

STAND_IN = WeightsSource("stand-in", network="vgg16")


@dataclass(frozen=True)
class LocalWeights:
    """What the stack's runs use: the weights, the settings that make the workflow use them, and what to say."""

    source: WeightsSource
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def note(self) -> str:
        """The demo's last line about the weights; empty for the production network's own."""
        if self.source.kind == "stand-in":
            return f"{vgg16_stand_in.DESCRIPTION} (VGG19's ImageNet weights could not be fetched here)"
        if self.source.kind == "random":
            return (
                f"random ({WEIGHTS_ENV}=random): this is NOT a real stylization and looks much like the photo; run "
                "without it (or with a weights file) for the real thing"
            )
        return ""


def choose(target: str) -> LocalWeights:
    """Load (and, for ``imagenet``, fetch once into the Keras cache) the VGG19 weights; offline with the setting
    unset, the VGG16 stand-in instead; SystemExit with one line if neither loads. ``target`` is the make target
    the advice names."""
    try:
        source = weights_from_env()
        feature_extractor(source)
        return LocalWeights(source)
    except WeightsUnavailableError as exc:
        if os.environ.get(WEIGHTS_ENV, "").strip():
            raise SystemExit(
                f"[{target}] {exc}. Offline? Leave {WEIGHTS_ENV} unset: `make {target}` then runs on the trained "
                "VGG16 stand-in"
            ) from None
        try:
            feature_extractor(STAND_IN)
        except WeightsUnavailableError as missing:
            raise SystemExit(
                f"[{target}] {exc}. Offline, the trained VGG16 stand-in would be used, but it is unavailable "
                f"({missing}); `make {target} {WEIGHTS_ENV}=random` runs without trained weights (the output is then "
                "not a real stylization)"
            ) from None
    return LocalWeights(STAND_IN, {"NST_VGG16_WEIGHTS": "stand-in", LOCAL_NETWORK_ENV: "vgg16"})


def check(target: str) -> WeightsSource:
    """The weights ``NST_VGG19_WEIGHTS`` names, loaded; SystemExit with one line if they cannot be (no fallback:
    a benchmark's timing sections must run the network they name)."""
    try:
        source = weights_from_env()
        feature_extractor(source)
    except WeightsUnavailableError as exc:
        raise SystemExit(
            f"[{target}] {exc}. Offline? `make {target} {WEIGHTS_ENV}=random` runs without them (the timing "
            "sections are the real network's; quality is measured on the VGG16 stand-in either way)"
        ) from None
    return source


def main(argv: list[str]) -> int:
    target = argv[0] if argv else "bench"
    check(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
