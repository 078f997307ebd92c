"""What a run shows while it runs: the Flyte Deck page, and the progress record written next to the output.

The Deck is self-contained HTML (an inline PNG and an inline SVG) so it renders in the Flyte console without a
plotting library or any network access: the current image, the loss curve with the end of every epoch marked,
the run's settings, and a warning that cannot be missed when VGG19 has random weights. The progress record is
small JSON for anything that watches the bucket (``make dev``, a web page) without Flyte access.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

_WIDTH, _HEIGHT, _PAD = 560, 220, 44


#: Shown above everything when the network's weights are random: the result is then not a stylization.
RANDOM_WEIGHTS_WARNING = (
    "VGG19 has RANDOM weights (NST_VGG19_WEIGHTS=random): this is not a real stylization and will look much like "
    "the photo. Use the ImageNet weights for real results."
)

#: What made a preview-mode result: no VGG19 ran, whatever its weights.
FEED_FORWARD_MADE_IT = (
    "made by the trained feed-forward network (Magenta arbitrary image stylization, mode=preview); no VGG19 "
    "optimisation ran"
)


#: Shown above everything when the network is the offline VGG16 stand-in: a real stylization, but not the production
#: network's (the same words as the demo's last line: vgg16_stand_in.DESCRIPTION).
STAND_IN_WARNING = (
    "made with the trained VGG16 stand-in, fine-tuned on MRI scans (NST_VGG16_WEIGHTS=stand-in): a real "
    "stylization, not the production network"
)


def weights_warning(weights: str) -> str:
    """What the Deck and the PNG say about the weights of kind ``weights`` (empty for the production weights)."""
    return {"random": RANDOM_WEIGHTS_WARNING, "stand-in": STAND_IN_WARNING}.get(weights, "")


def made_by(mode: str, weights: str) -> str:
    """The PNG's ``Comment``: what really made the result, when it is not the production network's optimisation
    (empty then)."""
    if mode == "preview":
        return FEED_FORWARD_MADE_IT
    return weights_warning(weights)


def progress_html(
    png: bytes,
    losses: Sequence[float],
    *,
    title: str,
    epoch_ends: Sequence[int] = (),
    settings: Mapping[str, object] | None = None,
    warning: str = "",
) -> str:
    """The Deck page: a warning (if any), a heading, the image so far (``png``, encoded once by the caller, who
    may write the same bytes as a preview file), the loss per step on a log scale with
    the end of each epoch (``epoch_ends``: step counts) marked, and the settings as a table."""
    inline = base64.b64encode(png).decode("ascii")
    last = f"{losses[-1]:.4g}" if losses else "n/a"
    alert = (
        f'<p role="alert" style="background:#fde8e8;border:2px solid #c00;padding:8px;font-weight:bold">'
        f"{html.escape(warning)}</p>"
        if warning
        else ""
    )
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in (settings or {}).items()
    )
    table = f"<table>{rows}</table>" if rows else ""
    return (
        f"{alert}<h3>{html.escape(title)}</h3>"
        f"<p>{len(losses)} steps so far; latest loss {last}</p>"
        f'<img alt="current image" style="max-width:100%;image-rendering:auto" src="data:image/png;base64,{inline}"/>'
        f"{loss_curve_svg(losses, epoch_ends)}{table}"
    )


#: The ``state`` of an upload's status record, ``<output>.progress.json``: the one record of an upload, overwritten
#: as it goes. The trigger writes ``queued`` (launched, with the execution's name) or ``skipped``, ``refused`` or
#: ``failed`` (with the reason); the run writes ``preview``, ``running`` after each epoch, ``done`` after the last,
#: and ``failed`` (with the reason) when it fails. Named here once for the workflow package; the trigger, which
#: ships without it, restates them (``lambda_trigger/status_records.py``) and a test compares the two.
QUEUED, SKIPPED, REFUSED, FAILED = "queued", "skipped", "refused", "failed"
PREVIEW, RUNNING, DONE = "preview", "running", "done"
STATES = (QUEUED, SKIPPED, REFUSED, FAILED, PREVIEW, RUNNING, DONE)


def progress_record(
    *, epoch: int, epochs: int, steps: int, loss: float | None, seconds: float, weights: str, done: bool = False
) -> dict[str, object]:
    """The progress record written next to the output after every epoch (``<output>.progress.json``): ``running``,
    or ``done`` after the last epoch."""
    return {
        "state": DONE if done else RUNNING,
        "epoch": epoch,
        "epochs": epochs,
        "steps": steps,
        "loss": loss,
        "seconds": round(seconds, 3),
        "weights": weights,
        "done": done,
    }


def failure_record(reason: str) -> dict[str, object]:
    """The status record of a run that failed: ``reason`` is one line a person can act on."""
    return {"state": FAILED, "reason": reason}


def loss_curve_svg(losses: Sequence[float], epoch_ends: Sequence[int] = ()) -> str:
    """An SVG polyline of log10(loss) against step, a dashed line where each epoch ended; empty-state text
    when there is nothing to draw."""
    finite = [v for v in losses if math.isfinite(v) and v > 0]
    if len(finite) < 2:
        return "<p>(the loss curve appears after two steps)</p>"
    logs = np.log10(np.asarray(finite, dtype=np.float64))
    low, high = float(logs.min()), float(logs.max())
    span = (high - low) or 1.0
    xs = _PAD + np.linspace(0.0, _WIDTH - 2 * _PAD, len(logs))
    ys = _HEIGHT - _PAD - (logs - low) / span * (_HEIGHT - 2 * _PAD)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    step_x = (_WIDTH - 2 * _PAD) / max(1, len(logs) - 1)
    marks = "".join(
        f'<line class="epoch-end" x1="{_PAD + (end - 1) * step_x:.1f}" y1="{_PAD}" '
        f'x2="{_PAD + (end - 1) * step_x:.1f}" y2="{_HEIGHT - _PAD}" stroke="#999" stroke-dasharray="4 3"/>'
        for end in epoch_ends
        if 1 <= end <= len(logs)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="loss per step">'
        f'<rect x="0" y="0" width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>'
        f"{marks}"
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/>'
        f'<text x="4" y="{_PAD}" font-size="11">{10**high:.3g}</text>'
        f'<text x="4" y="{_HEIGHT - _PAD}" font-size="11">{10**low:.3g}</text>'
        f'<text x="{_PAD}" y="{_HEIGHT - 8}" font-size="11">step 1</text>'
        f'<text x="{_WIDTH - _PAD - 40}" y="{_HEIGHT - 8}" font-size="11">step {len(finite)}</text>'
        f'<text x="{_WIDTH / 2 - 40:.0f}" y="16" font-size="12">loss (log scale)</text>'
        "</svg>"
    )
