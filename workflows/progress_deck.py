"""HTML for the Flyte Deck of an optimisation task: the current image and the loss curve so far.

Self-contained HTML (an inline PNG and an inline SVG) so it renders in the
Flyte console without a plotting library or any network access.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence

import numpy as np

from workflows.images import encode_png

_WIDTH, _HEIGHT, _PAD = 560, 220, 44


def progress_html(image: np.ndarray, losses: Sequence[float], *, title: str) -> str:
    """The Deck page: a heading, the stylized image so far, and the loss per step on a log scale."""
    png = base64.b64encode(encode_png(image)).decode("ascii")
    last = f"{losses[-1]:.4g}" if losses else "n/a"
    return (
        f"<h3>{html.escape(title)}</h3>"
        f"<p>{len(losses)} steps so far; latest loss {last}</p>"
        f'<img alt="current image" style="max-width:100%;image-rendering:auto" src="data:image/png;base64,{png}"/>'
        f"{loss_curve_svg(losses)}"
    )


def loss_curve_svg(losses: Sequence[float]) -> str:
    """An SVG polyline of log10(loss) against step; empty-state text when there is nothing to draw."""
    finite = [v for v in losses if math.isfinite(v) and v > 0]
    if len(finite) < 2:
        return "<p>(the loss curve appears after two steps)</p>"
    logs = np.log10(np.asarray(finite, dtype=np.float64))
    low, high = float(logs.min()), float(logs.max())
    span = (high - low) or 1.0
    xs = _PAD + np.linspace(0.0, _WIDTH - 2 * _PAD, len(logs))
    ys = _HEIGHT - _PAD - (logs - low) / span * (_HEIGHT - 2 * _PAD)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="loss per step">'
        f'<rect x="0" y="0" width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/>'
        f'<text x="4" y="{_PAD}" font-size="11">{10**high:.3g}</text>'
        f'<text x="4" y="{_HEIGHT - _PAD}" font-size="11">{10**low:.3g}</text>'
        f'<text x="{_PAD}" y="{_HEIGHT - 8}" font-size="11">step 1</text>'
        f'<text x="{_WIDTH - _PAD - 40}" y="{_HEIGHT - 8}" font-size="11">step {len(finite)}</text>'
        f'<text x="{_WIDTH / 2 - 40:.0f}" y="16" font-size="12">loss (log scale)</text>'
        "</svg>"
    )
