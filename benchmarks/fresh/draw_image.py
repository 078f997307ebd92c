"""One of ``bench_images``' large test images, drawn in a process of its own so its memory is not the
measuring process's:

    python -m benchmarks.fresh.draw_image MODE FORMAT SIDE ORIENTATION PATH

smooth content (ramps), so that it compresses as photos do; ORIENTATION 0 writes no EXIF."""

from __future__ import annotations

import argparse
import json

import numpy as np
from PIL import Image

SAVE_SETTINGS = {"PNG": {"compress_level": 1}, "TIFF": {"compression": "tiff_adobe_deflate"}, "JPEG": {"quality": 90}}


def drawn(mode: str, side: int) -> Image.Image:
    ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)
    if mode in ("I;16", "F"):
        grey = np.add.outer(ramp, ramp) / 2
        return Image.fromarray((grey * 65535).astype(np.uint16)) if mode == "I;16" else Image.fromarray(grey * 3, "F")
    bands = {"RGB": 3, "RGBA": 4, "CMYK": 4, "P": 3}[mode]
    rows = []
    for start in range(0, side, 1024):  # in bands of rows: a float copy of the whole image would not fit
        y = ramp[start : start + 1024, None]
        planes = [
            np.broadcast_to(y, (len(y), side)),
            np.broadcast_to(ramp[None, :], (len(y), side)),
            np.broadcast_to((y + ramp[None, :]) / 2, (len(y), side)),
            np.broadcast_to(1 - y, (len(y), side)),
        ]
        rows.append((np.stack(planes[:bands], axis=-1) * 255).astype(np.uint8))
    image = Image.fromarray(np.concatenate(rows), {"P": "RGB"}.get(mode, mode))
    return image.quantize(64) if mode == "P" else image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode")
    parser.add_argument("format")
    parser.add_argument("side", type=int)
    parser.add_argument("orientation", type=int)
    parser.add_argument("path")
    args = parser.parse_args()
    save: dict[str, object] = dict(SAVE_SETTINGS[args.format])
    if args.mode == "P":
        save["transparency"] = 0
    if args.orientation:
        exif = Image.Exif()
        exif[0x0112] = args.orientation
        save["exif"] = exif
    drawn(args.mode, args.side).save(args.path, format=args.format, **save)
    print(json.dumps({"path": args.path}))


if __name__ == "__main__":
    main()
