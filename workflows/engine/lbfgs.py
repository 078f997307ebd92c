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

from workflows.engine.framework import tf

ValueAndGrad = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]

#: The first step (no curvature yet) moves the steepest pixel by this much, about 3 of 255 levels. From the sample
#: photo at 256 and 512 px a first trial of 0.05 was halved twice before the line search accepted it: each halving
#: is a whole evaluation in every run's first step, which this one is accepted without.
FIRST_STEP_MAX_CHANGE = 0.0125
ARMIJO_C1 = 1e-4
MAX_BACKTRACKS = 10


@dataclass
class LbfgsResult:
    image: tf.Tensor
    history_s: tf.Tensor  # the curvature pairs, stacked (k, H, W, 3), oldest first
    history_y: tf.Tensor
    losses: list[float]
    loss: tf.Tensor  # at ``image``: where the next run starts
    grad: tf.Tensor


def minimize(
    value_and_grad: ValueAndGrad,
    image: tf.Tensor,
    steps: int,
    history_s: tf.Tensor | np.ndarray | None = None,
    history_y: tf.Tensor | np.ndarray | None = None,
    history: int = 20,
    on_step: Callable[[int, float], None] | None = None,
    start: tuple[tf.Tensor, tf.Tensor] | None = None,
) -> LbfgsResult:
    """Take ``steps`` accepted L-BFGS steps from ``image``; ``losses[i]`` is the loss before step i.

    ``history_s`` and ``history_y`` are the curvature pairs so far, stacked (k, H, W, 3) oldest first (None: none),
    and kept stacked: an accepted step appends its pair with one concatenation, the two-loop recursion reads the
    stack as it is, and nothing is split or stacked again between epochs. ``start`` is the loss and gradient at
    ``image`` when the caller has them (a resumed run), saving an evaluation.
    """
    none = tf.zeros((0, *image.shape[1:]), tf.float32)
    history_s = none if history_s is None else tf.convert_to_tensor(history_s, tf.float32)
    history_y = none if history_y is None else tf.convert_to_tensor(history_y, tf.float32)
    loss, grad = start if start is not None else value_and_grad(image)
    losses: list[float] = []
    for index in range(steps):
        value = float(loss)
        losses.append(value)
        if on_step is not None:
            on_step(index, value)
        direction = _two_loop(grad, history_s, history_y)
        slope = _dot(grad, direction)
        if slope >= 0.0:  # not a descent direction (bounds or noise): forget the curvature model
            history_s, history_y = none, none
            direction, slope = -grad, -_dot(grad, grad)
        step = 1.0 if history_s.shape[0] else FIRST_STEP_MAX_CHANGE / max(float(tf.reduce_max(tf.abs(grad))), 1e-12)
        for _ in range(MAX_BACKTRACKS):
            candidate = tf.clip_by_value(image + step * direction, 0.0, 1.0)
            new_loss, new_grad = value_and_grad(candidate)
            if float(new_loss) <= value + ARMIJO_C1 * _dot(grad, candidate - image):
                break
            step *= 0.5
        s, y = candidate - image, new_grad - grad
        curvature = _dot(s, y)
        if curvature > 1e-10 * _dot(y, y):
            kept = max(0, history_s.shape[0] + 1 - history)  # the oldest pair falls out of a full history
            history_s = tf.concat([history_s[kept:], s], axis=0)
            history_y = tf.concat([history_y[kept:], y], axis=0)
        image, loss, grad = candidate, new_loss, new_grad
    return LbfgsResult(image, history_s, history_y, losses, loss, grad)


def _two_loop(grad: tf.Tensor, history_s: tf.Tensor, history_y: tf.Tensor) -> tf.Tensor:
    """-H grad, with H the L-BFGS inverse-Hessian model (Nocedal & Wright, algorithm 7.4)."""
    if not history_s.shape[0]:
        return -grad
    return _compiled_two_loop(grad, history_s, history_y)


_IMAGES = tf.TensorSpec([None, None, None, 3], tf.float32)


@tf.function(input_signature=[_IMAGES, _IMAGES, _IMAGES], autograph=False)
def _compiled_two_loop(grad: tf.Tensor, s: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The two-loop recursion over stacked pairs (k, H, W, 3): one graph for every history length and size.

    The signature is fixed up front: left to infer it, TensorFlow traces once for one pair and again once the
    history grows, and that second trace cost about as much as the first step. The loops are written as
    ``tf.while_loop`` rather than left to autograph: the same graph, without the conversion that took 0.19 s of
    a fresh task's first step (0.27 s against 0.08 s)."""
    count = tf.shape(s)[0]
    rho = 1.0 / tf.reduce_sum(s * y, axis=[1, 2, 3])

    def newest_first(i: tf.Tensor, q: tf.Tensor, alphas: tf.TensorArray) -> tuple:
        alpha = rho[i] * tf.reduce_sum(s[i] * q)
        return i - 1, q - alpha * y[i], alphas.write(i, alpha)

    start = (count - 1, grad, tf.TensorArray(tf.float32, size=count))
    _, q, alphas = tf.while_loop(lambda i, q, alphas: i >= 0, newest_first, start)
    last = count - 1
    r = q * tf.reduce_sum(s[last] * y[last]) / tf.reduce_sum(y[last] * y[last])

    def oldest_first(i: tf.Tensor, r: tf.Tensor) -> tuple:
        beta = rho[i] * tf.reduce_sum(y[i] * r)
        return i + 1, r + (alphas.read(i) - beta) * s[i]

    _, r = tf.while_loop(lambda i, r: i < count, oldest_first, (tf.constant(0), r))
    return -r


def _dot(a: tf.Tensor, b: tf.Tensor) -> float:
    return float(tf.reduce_sum(tf.cast(a, tf.float64) * tf.cast(b, tf.float64)))
