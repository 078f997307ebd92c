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


def dockerfile_env(tag: str, root: Path) -> dict[str, str]:
    """The environment the image's ENV instructions give a pod built with ``--build-arg tag=<tag>``, with the
    image's /root (where COPY puts workflows/) at ``root``."""
    env: dict[str, str] = {}
    for instruction in instructions("ENV"):
        for assignment in shlex.split(instruction):
            name, _, value = assignment.partition("=")
            env[name] = value.replace("$tag", tag).replace("/root", str(root))
    return env


def test_a_pod_knows_the_image_it_was_registered_with(monkeypatch) -> None:
    """flytekit's own lookup (FLYTE_INTERNAL_IMAGE), in the environment the Dockerfile sets, finds the tag."""
    from flytekit.configuration import ImageConfig

    monkeypatch.setenv(
        "FLYTE_INTERNAL_IMAGE", dockerfile_env("registry.example/nst-task:v9", REPO)["FLYTE_INTERNAL_IMAGE"]
    )
    assert ImageConfig.auto_default_image().default_image.full == "registry.example/nst-task:v9"


def test_workflows_import_as_a_package_in_the_image_layout(tmp_path: Path) -> None:
    """The COPY of workflows/ and the image's PYTHONPATH: in that layout the workflow module imports."""
    import shutil
    import subprocess
    import sys

    copies = [shlex.split(line) for line in instructions("COPY")]
    (source, destination) = next(copy for copy in copies if copy[0] == "workflows")
    root = tmp_path / "root"
    shutil.copytree(REPO / source, root / Path(destination).relative_to("/root"))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": dockerfile_env("", root)["PYTHONPATH"]}
    code = "import workflows.neural_style_transfer as m; print(m.__file__)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith(str(root)), "imported from the image's copy, not the checkout"
