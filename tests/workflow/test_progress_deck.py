"""The Deck each optimisation task renders: self-contained HTML with the image and the loss curve."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from tests.conftest import smooth_pixels
from workflows.progress_deck import loss_curve_svg, progress_html


def test_page_embeds_the_current_image_and_a_point_per_step() -> None:
    losses = [9.0e5, 7.5e5, 6.0e5, 5.9e5]
    page = progress_html(smooth_pixels(40, 30), losses, title="Epoch 2 of 5 <fast>")

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
