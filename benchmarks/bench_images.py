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
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import REPO, machine, run_fresh

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


def measure(image: Path, module: Path, scratch: Path) -> dict:
    """``benchmarks.fresh.decode_peak`` for ``image`` with the images module at ``module``, in a fresh process."""
    report, _, done = run_fresh("decode_peak", image, module, scratch=scratch, check=False, NST_VGG19_WEIGHTS="random")
    if report is None:
        # An out-of-memory kill or a crash is a result too: report it rather than stop the benchmark.
        return {"peak_gib": None, "outcome": f"process failed ({done.returncode}): {done.stderr.strip()[-300:]}"}
    return dict(report)


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
            run_fresh("draw_image", mode, fmt, side, orientation, image, scratch=work)
            row = {
                "case": name,
                "file_mb": image.stat().st_size / 1e6,
                "now": measure(image, REPO / "workflows/images.py", work),
            }
            if baseline is not None:
                row["baseline"] = measure(image, baseline, work)
            results.append(row)
            image.unlink()
            before = row.get("baseline", {}).get("peak_gib")
            print(
                f"{name:<52} {row['file_mb']:>7.1f} MB  peak {row['now']['peak_gib'] or float('nan'):.2f} GiB"
                + (f"  (baseline {before:.2f} GiB)" if before else "")
                + f"  {row['now']['outcome']}",
                flush=True,
            )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    resolved = None
    if args.baseline:
        resolved = subprocess.run(
            ["git", "rev-parse", "--short=12", args.baseline], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.strip()
    payload = {"machine": machine(), "task_limit_gib": TASK_LIMIT_GIB, "baseline": resolved, "results": results}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
