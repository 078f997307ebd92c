"""The task image's Dockerfile, checked as far as a machine without Docker can check it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions(keyword: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(keyword + " ")]


def test_every_copied_path_exists() -> None:
    copies = instructions("COPY")
    assert copies
    for copy in copies:
        *sources, _target = shlex.split(copy)
        for source in sources:
            assert (REPO / source).exists(), source


def test_requirements_are_pinned() -> None:
    for name in ("requirements.txt", "requirements-dev.txt", "lambda_trigger/requirements.txt"):
        for line in (REPO / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r "):
                assert re.match(r"^[A-Za-z0-9_.\-\[\]]+==[0-9][\w.]*$", line), f"{name}: {line} is not pinned"


def test_baked_weights_are_where_the_runtime_looks() -> None:
    """The build step must fill the very cache file that NST_VGG19_WEIGHTS=imagenet reads in a pod."""
    from keras.src.applications import vgg19

    filename = vgg19.WEIGHTS_PATH_NO_TOP.rsplit("/", 1)[1]
    keras_home = re.search(r"KERAS_HOME=(\S+)", DOCKERFILE).group(1)
    assert f"test -s {keras_home}/models/{filename}" in DOCKERFILE
    assert "weights='imagenet'" in DOCKERFILE and "include_top=False" in DOCKERFILE


def test_registration_image_convention() -> None:
    assert "FLYTE_INTERNAL_IMAGE=$tag" in instructions("ENV")
    assert any("PYTHONPATH=/root " in env for env in instructions("ENV")), "workflows/ must import as a package in pods"
