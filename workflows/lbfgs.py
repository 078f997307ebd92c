"""Limited-memory BFGS over pixels in [0, 1]: Gatys et al.'s original optimiser for style transfer.

It builds a curvature model from the last ``history`` steps, so on this smooth, badly-conditioned loss it needs
far fewer steps than Adam for the same loss. Each step evaluates the loss and gradient once when the first trial
step is accepted (the usual case); an Armijo backtracking line search guards the rare bad step, and the
projection onto [0, 1] keeps pixels valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

ValueAndGrad = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]

#: The first step (no curvature yet) moves the steepest pixel by this much, Adam-like.
FIRST_STEP_MAX_CHANGE = 0.05
ARMIJO_C1 = 1e-4
MAX_BACKTRACKS = 10


@dataclass
class LbfgsResult:
    image: tf.Tensor
    history_s: list[tf.Tensor]
    history_y: list[tf.Tensor]
    losses: list[float]
    evaluations: int


def minimize(
    value_and_grad: ValueAndGrad,
    image: tf.Tensor,
    steps: int,
    history_s: list[tf.Tensor],
    history_y: list[tf.Tensor],
    history: int = 10,
    on_step: Callable[[int, float], None] | None = None,
) -> LbfgsResult:
    """Take ``steps`` accepted L-BFGS steps from ``image``; ``losses[i]`` is the loss before step i."""
    history_s, history_y = list(history_s), list(history_y)
    loss, grad = value_and_grad(image)
    evaluations = 1
    losses: list[float] = []
    for index in range(steps):
        value = float(loss)
        losses.append(value)
        if on_step is not None:
            on_step(index, value)
        direction = _two_loop(grad, history_s, history_y)
        slope = _dot(grad, direction)
        if slope >= 0.0:  # not a descent direction (bounds or noise): forget the curvature model
            history_s.clear()
            history_y.clear()
            direction, slope = -grad, -_dot(grad, grad)
        step = 1.0 if history_s else FIRST_STEP_MAX_CHANGE / max(float(tf.reduce_max(tf.abs(grad))), 1e-12)
        for _ in range(MAX_BACKTRACKS):
            candidate = tf.clip_by_value(image + step * direction, 0.0, 1.0)
            new_loss, new_grad = value_and_grad(candidate)
            evaluations += 1
            if float(new_loss) <= value + ARMIJO_C1 * _dot(grad, candidate - image):
                break
            step *= 0.5
        s, y = candidate - image, new_grad - grad
        curvature = _dot(s, y)
        if curvature > 1e-10 * _dot(y, y):
            history_s.append(s)
            history_y.append(y)
            del history_s[:-history], history_y[:-history]
        image, loss, grad = candidate, new_loss, new_grad
    return LbfgsResult(image, history_s, history_y, losses, evaluations)


def _two_loop(grad: tf.Tensor, history_s: list[tf.Tensor], history_y: list[tf.Tensor]) -> tf.Tensor:
    """-H grad, with H the L-BFGS inverse-Hessian model (Nocedal & Wright, algorithm 7.4)."""
    if not history_s:
        return -grad
    q = grad
    alphas = []
    rhos = [1.0 / _dot(s, y) for s, y in zip(history_s, history_y)]
    for s, y, rho in reversed(list(zip(history_s, history_y, rhos))):
        alpha = rho * _dot(s, q)
        alphas.append(alpha)
        q = q - alpha * y
    gamma = _dot(history_s[-1], history_y[-1]) / _dot(history_y[-1], history_y[-1])
    r = gamma * q
    for (s, y, rho), alpha in zip(zip(history_s, history_y, rhos), reversed(alphas)):
        beta = rho * _dot(y, r)
        r = r + (alpha - beta) * s
    return -r


def _dot(a: tf.Tensor, b: tf.Tensor) -> float:
    return float(tf.reduce_sum(tf.cast(a, tf.float64) * tf.cast(b, tf.float64)))


def stack(history: list[tf.Tensor], hw: tuple[int, int]) -> np.ndarray:
    """History as one array (k, H, W, 3) for transport between tasks; k may be 0."""
    if not history:
        return np.zeros((0, *hw, 3), np.float32)
    return np.concatenate([np.asarray(h, np.float32) for h in history], axis=0)


def unstack(array: np.ndarray | None) -> list[tf.Tensor]:
    if array is None or len(array) == 0:
        return []
    return [tf.constant(array[i : i + 1]) for i in range(array.shape[0])]
