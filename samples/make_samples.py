"""Draw the sample content photo and style image procedurally, so the repository ships no third-party pictures.

    python samples/make_samples.py        # rewrites samples/landscape.jpg, swirls.jpg and mosaic.jpg

Deterministic: the same numpy and Pillow versions give byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent


def landscape(width: int = 640, height: int = 480, seed: int = 1) -> Image.Image:
    """A photo-like scene: graded sky, a low sun, layered hills, a lake with a reflection, a house."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = 0.62 * height

    sky_t = np.clip(y / horizon, 0, 1)[..., None]
    sky = (1 - sky_t) * np.array([38, 84, 160]) + sky_t * np.array([250, 196, 140])
    sun = np.exp(-(((x - 0.72 * width) ** 2 + (y - 0.50 * height) ** 2) / (2 * (0.05 * width) ** 2)))[..., None]
    glow = np.exp(-(((x - 0.72 * width) ** 2 + (y - 0.50 * height) ** 2) / (2 * (0.22 * width) ** 2)))[..., None]
    image = sky + sun * np.array([255, 240, 200]) * 0.9 + glow * np.array([90, 50, 10])

    for depth, (base, colour) in enumerate([(0.50, (70, 96, 120)), (0.56, (52, 92, 60)), (0.60, (34, 70, 38))]):
        ridge = base * height + 18 * np.sin(x / (60 + 25 * depth) + depth) + 9 * np.sin(x / (17 + 5 * depth))
        mask = (y > ridge)[..., None]
        shade = 0.75 + 0.25 * np.clip((y - ridge) / 80, 0, 1)[..., None]
        image = np.where(mask, np.array(colour) * shade, image)

    lake = (y > horizon)[..., None]
    mirrored = image[np.clip((2 * horizon - y).astype(int), 0, height - 1), x.astype(int)]
    ripple = 0.85 + 0.1 * np.sin(y / 2.5 + 0.3 * np.sin(x / 9))[..., None]
    image = np.where(lake, mirrored * ripple * np.array([0.8, 0.9, 1.05]), image)

    image = image + rng.normal(0, 4, image.shape)  # sensor grain
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB")

    draw = ImageDraw.Draw(picture)
    left, floor = int(0.18 * width), int(0.60 * height)
    draw.rectangle([left, floor - 46, left + 70, floor], fill=(196, 172, 140))
    draw.polygon([(left - 8, floor - 46), (left + 35, floor - 82), (left + 78, floor - 46)], fill=(120, 40, 36))
    draw.rectangle([left + 28, floor - 26, left + 42, floor], fill=(70, 48, 30))
    draw.rectangle([left + 8, floor - 38, left + 22, floor - 26], fill=(255, 224, 140))
    return picture.filter(ImageFilter.GaussianBlur(0.6))


def swirls(size: int = 512, seed: int = 7) -> Image.Image:
    """A painting-like style: short, thick brush strokes following a field of vortices, in night blues and golds."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", (size, size), (20, 34, 84))
    draw = ImageDraw.Draw(canvas)
    centres = rng.uniform(0.1 * size, 0.9 * size, size=(6, 2))
    spins = rng.choice([-1.0, 1.0], size=6) * rng.uniform(0.6, 1.4, size=6)
    palette = np.array([(24, 52, 120), (40, 86, 170), (90, 140, 210), (230, 200, 80), (250, 232, 150), (16, 28, 64)])

    def flow(px: float, py: float) -> tuple[float, float]:
        vx = vy = 0.0
        for (cx, cy), spin in zip(centres, spins):
            dx, dy = px - cx, py - cy
            weight = spin / (1.0 + (dx * dx + dy * dy) / (0.02 * size * size))
            vx, vy = vx - dy * weight, vy + dx * weight
        norm = (vx * vx + vy * vy) ** 0.5 or 1.0
        return vx / norm, vy / norm

    for _ in range(5000):
        px, py = rng.uniform(0, size, size=2)
        near_star = min(np.hypot(px - cx, py - cy) for cx, cy in centres[:2]) < 0.09 * size
        colour = palette[rng.choice([3, 4]) if near_star else rng.choice([0, 1, 2, 5], p=[0.35, 0.35, 0.2, 0.1])]
        colour = tuple(int(c) for c in np.clip(colour + rng.normal(0, 12, 3), 0, 255))
        points = [(px, py)]
        for _ in range(int(rng.integers(4, 9))):
            vx, vy = flow(px, py)
            px, py = px + 4.0 * vx, py + 4.0 * vy
            points.append((px, py))
        draw.line(points, fill=colour, width=int(rng.integers(3, 6)), joint="curve")
    return canvas.filter(ImageFilter.SMOOTH)


def mosaic(size: int = 384, seed: int = 11, cells: int = 90) -> Image.Image:
    """A second style, unlike the first: stained glass, flat cells of warm reds, oranges and greens in dark lead
    lines (the nearest of ``cells`` random points decides each pixel's cell; the lead is where two are near)."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, size=(cells, 2))
    palette = np.array([(196, 40, 30), (232, 120, 28), (244, 196, 60), (120, 24, 40), (60, 130, 60), (230, 90, 70)])
    colours = np.clip(palette[rng.integers(0, len(palette), cells)] + rng.normal(0, 14, (cells, 3)), 0, 255)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    distances = np.hypot(x[..., None] - points[:, 0], y[..., None] - points[:, 1])
    nearest = np.argsort(distances, axis=-1)[..., :2]
    first = np.take_along_axis(distances, nearest[..., :1], -1)[..., 0]
    second = np.take_along_axis(distances, nearest[..., 1:], -1)[..., 0]
    image = colours[nearest[..., 0]] * (0.8 + 0.2 * rng.random((size, size, 1)))
    image[second - first < 3.0] = (28, 22, 20)
    return Image.fromarray(image.astype(np.uint8), "RGB").filter(ImageFilter.SMOOTH)


def main() -> None:
    landscape().save(HERE / "landscape.jpg", quality=90, optimize=True)
    swirls().save(HERE / "swirls.jpg", quality=90, optimize=True)
    mosaic().save(HERE / "mosaic.jpg", quality=90, optimize=True)
    for name in ("landscape.jpg", "swirls.jpg", "mosaic.jpg"):
        print(f"{HERE / name}: {(HERE / name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
