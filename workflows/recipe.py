"""What to optimise and how, as plain data (no TensorFlow), so the workflow can check options before any task runs.

``LossWeights`` balance the terms, ``Optimizer`` picks Adam (the tutorial's, optionally with iterate averaging)
or L-BFGS, and ``EpochPlan`` says what one epoch of the workflow does: its place in the chain, its steps, and
whether it runs at a coarser pyramid level and in reduced precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The TensorFlow tutorial's optimiser settings: a large epsilon keeps early steps gentle.
ADAM_SETTINGS = {"learning_rate": 0.02, "beta_1": 0.99, "epsilon": 0.1}
OPTIMIZERS = ("adam", "lbfgs")
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class LossWeights:
    """How much each term of the loss counts (the tutorial's defaults)."""

    style: float = 1e-2
    content: float = 1e4
    total_variation: float = 30.0


@dataclass(frozen=True)
class Optimizer:
    """Which optimiser, and its options: ``ema`` is Adam's iterate-averaging decay (0 turns it off), ``history``
    the number of L-BFGS curvature pairs. The bare default is the tutorial's Adam; the workflow defaults to
    L-BFGS, which of the configurations ``make bench`` compares reaches the tutorial's quality soonest."""

    name: str = "adam"
    ema: float = 0.0
    history: int = 20

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.name!r}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.ema and self.name != "adam":
            raise ValueError("ema (iterate averaging) applies to the adam optimizer only")
        if self.history < 1:
            raise ValueError(f"history must be at least 1, got {self.history}")


@dataclass(frozen=True)
class EpochPlan:
    """What an epoch of the workflow does: its place in the chain, steps, losses, optimiser, size and precision."""

    epoch: int
    epochs: int
    steps: int
    weights: LossWeights = field(default_factory=LossWeights)
    optimizer: Optimizer = field(default_factory=Optimizer)
    pyramid: bool = False
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.steps < 1:
            raise ValueError(f"epochs and steps_per_epoch must be at least 1, got {self.epochs} and {self.steps}")
        if not 0 <= self.epoch < self.epochs:
            raise ValueError(f"epoch {self.epoch} is outside 0..{self.epochs - 1}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def compute_dtype(self, bfloat16_native: bool, epoch: int | None = None) -> str:
        """The convolutions' precision in ``epoch`` (default: this plan's).

        ``auto`` runs every epoch but the last in bfloat16 where the hardware computes it natively, and the last
        in float32: bfloat16 steps are faster, but their noise floor can sit above the tutorial's quality, which
        the float32 epoch then reaches. Without native bfloat16 it is float32 throughout.
        """
        epoch = self.epoch if epoch is None else epoch
        if self.precision != "auto":
            return self.precision
        return "bfloat16" if bfloat16_native and epoch < self.epochs - 1 else "float32"


@dataclass(frozen=True)
class Tuning:
    """The workflow's tuning inputs, handed to every epoch task as one typed value."""

    style_weight: float
    content_weight: float
    total_variation_weight: float
    optimizer: str
    ema: float
    pyramid: bool
    precision: str

    def plan(self, epoch: int, epochs: int, steps: int) -> EpochPlan:
        """The engine's plan for one epoch; a bad option fails here, naming it."""
        return EpochPlan(
            epoch=epoch,
            epochs=epochs,
            steps=steps,
            weights=LossWeights(self.style_weight, self.content_weight, self.total_variation_weight),
            optimizer=Optimizer(self.optimizer, ema=self.ema),
            pyramid=self.pyramid,
            precision=self.precision,
        )
