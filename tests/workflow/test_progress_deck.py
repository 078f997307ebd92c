"""The Deck each optimisation task renders: self-contained HTML with the image and the loss curve."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from tests.conftest import smooth_pixels
from workflows.engine.progress_view import RANDOM_WEIGHTS_WARNING, loss_curve_svg, progress_html, progress_record
from workflows.images import encode_png


def test_page_embeds_the_current_image_and_a_point_per_step() -> None:
    losses = [9.0e5, 7.5e5, 6.0e5, 5.9e5]
    page = progress_html(encode_png(smooth_pixels(40, 30)), losses, title="Epoch 2 of 5 <fast>")

    assert "<h3>Epoch 2 of 5 &lt;fast&gt;</h3>" in page, "titles are escaped"
    assert "4 steps so far; latest loss 5.9e+05" in page
    encoded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(encoded))).size == (40, 30)
    points = re.search(r'<polyline[^>]* points="([^"]+)"', page).group(1).split()
    assert len(points) == 4
    ys = [float(p.split(",")[1]) for p in points]
    assert ys == sorted(ys), "a falling loss is drawn as a falling line (SVG y grows downwards)"
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', ""), "no external resources"


def test_curve_needs_two_finite_points() -> None:
    assert "appears after two steps" in loss_curve_svg([])
    assert "appears after two steps" in loss_curve_svg([float("nan"), 3.0])
    assert "<polyline" in loss_curve_svg([3.0, 3.0])  # a flat curve still draws


def test_epoch_ends_are_marked_and_the_settings_listed() -> None:
    losses = [9.0, 8.0, 7.0, 6.5, 6.0, 5.8]
    page = progress_html(
        encode_png(smooth_pixels(8, 8)), losses, title="t", epoch_ends=[3, 6], settings={"optimizer": "lbfgs"}
    )
    marks = re.findall(r'<line class="epoch-end" x1="([0-9.]+)"', page)
    assert len(marks) == 2 and float(marks[0]) < float(marks[1]), "one mark per finished epoch, in step order"
    assert "<th style='text-align:left'>optimizer</th><td>lbfgs</td>" in page
    assert 'role="alert"' not in page, "no warning unless asked"


def test_random_weights_cannot_be_missed() -> None:
    page = progress_html(encode_png(smooth_pixels(8, 8)), [1.0, 0.5], title="t", warning=RANDOM_WEIGHTS_WARNING)
    alert = page.index('role="alert"')
    assert alert < page.index("<h3>"), "the warning comes first"
    assert "RANDOM weights" in page and "not a real stylization" in page


def test_progress_record_is_plain_json() -> None:
    import json

    record = progress_record(epoch=2, epochs=5, steps=200, loss=1.5e5, seconds=12.3456, weights="imagenet")
    assert json.loads(json.dumps(record)) == {
        "state": "running",
        "epoch": 2,
        "epochs": 5,
        "steps": 200,
        "loss": 1.5e5,
        "seconds": 12.346,
        "weights": "imagenet",
        "done": False,
    }
    last = progress_record(epoch=5, epochs=5, steps=500, loss=1.0e5, seconds=30.0, weights="imagenet", done=True)
    assert (last["state"], last["done"]) == ("done", True)
