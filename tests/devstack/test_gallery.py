"""The README's gallery is the one ``make gallery`` wrote: its table comes from docs/gallery/index.json, and every
picture it names is there, labelled as the stand-in's."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from devstack import gallery

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_shows_the_gallery_that_was_made() -> None:
    index = json.loads((REPO / "docs" / "gallery" / "index.json").read_text())
    readme = (REPO / "README.md").read_text()
    assert gallery.markdown(index) in readme, "run make gallery (or python -m devstack.gallery) to refresh it"
    for picture in index["pictures"]:
        with Image.open(REPO / "docs" / "gallery" / picture["file"]) as image:
            assert image.size[0] == index["size"] or image.size[1] == index["size"]
            assert "stand-in" in image.info["comment"].decode(), f"{picture['file']} says what made it"


def test_the_gallery_is_small_enough_to_commit() -> None:
    total = sum(path.stat().st_size for path in (REPO / "docs" / "gallery").iterdir())
    assert total <= 2 * 2**20


def test_every_creative_control_has_a_picture() -> None:
    shown = {key for picture in gallery.STYLIZED for key in picture.changes}
    assert {"preserve_colors", "style_scale", "style_strength", "style_blend_weights"} <= shown
