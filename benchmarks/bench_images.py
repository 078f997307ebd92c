"""Measure (not assert) the peak memory of decoding the biggest images the ``preprocess`` task accepts.

    .venv/bin/python -m benchmarks.bench_images [--baseline GIT_REF] [--out PATH]

For each case a fresh interpreter imports the task module (``workflows.neural_style_transfer``, as the task's pod
does), then decodes one image with ``workflows.images.load_rgb`` at ``max_dim=512`` and reports its peak resident
set size (``VmHWM``), against the task's 2 GiB limit. The images are drawn once per run, in separate processes, at
the pixel limit (or 9000 x 9000 where the issue measured), with smooth content so that they compress as photos do.

``--baseline REF`` also runs every case against ``workflows/images.py`` as it was at that commit (read with
``git show``), for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASK_LIMIT_GIB = 2.0
SIDE_AT_LIMIT = 9459  # 9459^2 = 89,472,681 pixels, just under workflows.images.MAX_PIXELS

#: name -> (mode to draw, file format, side, EXIF orientation or 0)
CASES = {
    "16-bit greyscale PNG 9000x9000 (the issue's case)": ("I;16", "PNG", 9000, 0),
    f"RGB PNG {SIDE_AT_LIMIT}^2, EXIF orientation 6": ("RGB", "PNG", SIDE_AT_LIMIT, 6),
    f"RGBA PNG {SIDE_AT_LIMIT}^2": ("RGBA", "PNG", SIDE_AT_LIMIT, 0),
    f"palette + transparency PNG {SIDE_AT_LIMIT}^2": ("P", "PNG", SIDE_AT_LIMIT, 0),
    f"CMYK TIFF {SIDE_AT_LIMIT}^2": ("CMYK", "TIFF", SIDE_AT_LIMIT, 0),
    "32-bit float TIFF 9000x9000": ("F", "TIFF", 9000, 0),
    f"RGB JPEG {SIDE_AT_LIMIT}^2": ("RGB", "JPEG", SIDE_AT_LIMIT, 0),
}

DRAW = r"""
import sys
import numpy as np
from PIL import Image
mode, fmt, side, orientation, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)
if mode in ("I;16", "F"):
    grey = np.add.outer(ramp, ramp) / 2
    image = Image.fromarray((grey * 65535).astype(np.uint16)) if mode == "I;16" else Image.fromarray(grey * 3, "F")
else:
    bands = {"RGB": 3, "RGBA": 4, "CMYK": 4, "P": 3}[mode]
    rows = []
    for start in range(0, side, 1024):
        y = ramp[start:start + 1024, None]
        planes = [np.broadcast_to(y, (len(y), side)), np.broadcast_to(ramp[None, :], (len(y), side)),
                  np.broadcast_to((y + ramp[None, :]) / 2, (len(y), side)), np.broadcast_to(1 - y, (len(y), side))]
        rows.append((np.stack(planes[:bands], axis=-1) * 255).astype(np.uint8))
    image = Image.fromarray(np.concatenate(rows), {"P": "RGB"}.get(mode, mode))
    del rows
    if mode == "P":
        image = image.quantize(64)
save = {"PNG": {"compress_level": 1}, "TIFF": {"compression": "tiff_adobe_deflate"}, "JPEG": {"quality": 90}}[fmt]
if mode == "P":
    save["transparency"] = 0
if orientation:
    exif = Image.Exif()
    exif[0x0112] = orientation
    save["exif"] = exif
image.save(path, format=fmt, **save)
"""

MEASURE = r"""
import importlib.util, json, sys, time
sys.path.insert(0, sys.argv[3])
import workflows.neural_style_transfer  # what the task's pod has imported before preprocess runs
def peak_kib():
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
before = peak_kib()
spec = importlib.util.spec_from_file_location("images_under_test", sys.argv[2])
images = importlib.util.module_from_spec(spec)
spec.loader.exec_module(images)
started = time.perf_counter()
try:
    shape = list(images.load_rgb(sys.argv[1], role="content", max_dim=512).shape)
    outcome = "decoded"
except images.ImageInputError as exc:
    shape, outcome = None, f"refused: {exc}"
print(json.dumps({"peak_gib": peak_kib() / 2**20, "imports_gib": before / 2**20, "seconds": time.perf_counter() - started,
                  "shape": shape, "outcome": outcome}))
"""


def measure(image: Path, module: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(image), str(module), str(REPO)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NST_VGG19_WEIGHTS": "random"},
    )
    if done.returncode != 0:
        # An out-of-memory kill or a crash is a result too: report it rather than stop the benchmark.
        return {"peak_gib": None, "outcome": f"process failed ({done.returncode}): {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="also measure workflows/images.py as of this git commit")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "images.json")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="nst-bench-images-") as folder:
        work = Path(folder)
        baseline = None
        if args.baseline:
            baseline = work / "images_baseline.py"
            source = subprocess.run(
                ["git", "show", f"{args.baseline}:workflows/images.py"], cwd=REPO, check=True, capture_output=True
            ).stdout
            baseline.write_bytes(source)
        for name, (mode, fmt, side, orientation) in CASES.items():
            image = work / f"case.{fmt.lower()}"
            subprocess.run([sys.executable, "-c", DRAW, mode, fmt, str(side), str(orientation), str(image)], check=True)
            row = {
                "case": name,
                "file_mb": image.stat().st_size / 1e6,
                "now": measure(image, REPO / "workflows/images.py"),
            }
            if baseline is not None:
                row["baseline"] = measure(image, baseline)
            results.append(row)
            image.unlink()
            before = row.get("baseline", {}).get("peak_gib")
            print(
                f"{name:<52} {row['file_mb']:>7.1f} MB  peak {row['now']['peak_gib'] or float('nan'):.2f} GiB"
                + (f"  (baseline {before:.2f} GiB)" if before else "")
                + f"  {row['now']['outcome']}",
                flush=True,
            )

    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    resolved = None
    if args.baseline:
        resolved = subprocess.run(
            ["git", "rev-parse", "--short=12", args.baseline], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.strip()
    payload = {"machine": machine, "task_limit_gib": TASK_LIMIT_GIB, "baseline": resolved, "results": results}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
