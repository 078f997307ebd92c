"""Fixtures shared by every test: an isolated flytekit cache, a real S3 server on loopback, sample images."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Tests never touch real AWS: fixed dummy credentials and region for boto3, s3fs and moto.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("NST_VGG19_WEIGHTS", "random")

# Everything the suite's processes put in the temporary directory (flytekit's local sandboxes, a few hundred MB
# over a run, which flytekit never removes; TensorFlow's autograph files; moto's) goes to one folder of its own,
# removed when the session ends. pytest's own tmp_path folders stay where they were (PYTEST_DEBUG_TEMPROOT), kept
# for failed tests only (pytest.ini's tmp_path_retention_policy), for a look after a failure.
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
SUITE_TMP = tempfile.mkdtemp(prefix="nst-suite-")
os.environ["TMPDIR"] = SUITE_TMP
tempfile.tempdir = None  # the next gettempdir() reads TMPDIR again
atexit.register(shutil.rmtree, SUITE_TMP, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def isolated_flyte_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point flytekit's local task cache at a temporary folder instead of ~/.flyte."""
    from flytekit.core import local_cache

    location = tmp_path_factory.mktemp("flyte-local-cache")
    previous = local_cache.CACHE_LOCATION
    local_cache.CACHE_LOCATION = str(location)
    local_cache.LocalTaskCache._initialized = False
    yield location
    local_cache.CACHE_LOCATION = previous
    local_cache.LocalTaskCache._initialized = False


@pytest.fixture(scope="session", autouse=True)
def quiet_interpreter_exit() -> Iterator[None]:
    """flytekit's s3fs session is reported as unclosed while Python shuts down, through a logger that is
    already half torn down: a screenful of noise after the results. Nothing is logged there worth keeping."""
    yield
    import logging

    logging.getLogger("flytekit").disabled = True


def free_port() -> int:
    """A loopback port nothing listens on (for "unreachable" endpoints, or a server that must be told one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    """A running moto server: a real S3 protocol endpoint on loopback."""

    endpoint: str

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # moto picks a free port
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def flyte_s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Route flytekit's and boto3's S3 traffic to the loopback server for one test."""
    monkeypatch.setenv("FLYTE_AWS_ENDPOINT", s3_server.endpoint)
    monkeypatch.setenv("FLYTE_AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("FLYTE_AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    return s3_server


def smooth_pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photo-like float image in [0, 1]: smooth gradients and soft shapes, not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    phase = rng.uniform(0, np.pi, size=3)
    channels = [
        0.5 + 0.45 * np.sin(4 * x + phase[0]) * np.cos(3 * y + phase[1]),
        x,
        0.5 + 0.4 * np.sin(7 * (x + y) + phase[2]),
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 1).astype(np.float32)


def striped_pixels(width: int, height: int) -> np.ndarray:
    """A style-like image: hard-edged stripes and checks in strong colours."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [(np.sin(x / 2.0) > 0) * 0.9, (np.cos(y / 3.0) > 0) * 0.7, ((x + y) % 16 < 8) * 0.8]
    return np.stack(channels, axis=-1).astype(np.float32)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def write_image(tmp_path: Path) -> Callable[..., Path]:
    """Write a synthetic image file: ``write_image("a.jpg", 64, 48)``; ``style=True`` for the striped kind."""

    def write(name: str, width: int = 64, height: int = 48, *, style: bool = False, **save_args) -> Path:
        pixels = striped_pixels(width, height) if style else smooth_pixels(width, height)
        path = tmp_path / name
        Image.fromarray(to_uint8(pixels), "RGB").save(path, **save_args)
        return path

    return write


#: Where `pyflyte package` is run from: the repository root.
REPO = Path(__file__).resolve().parent.parent
PACKAGE_IMAGE = "ghcr.io/acme/nst-task:abc123"


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run the real CLI, as a user would, and parse every protobuf it wrote."""
    out = tmp_path_factory.mktemp("package") / "flyte-package.tgz"
    command = [sys.executable, "-m", "flytekit.clis.sdk_in_container.pyflyte", "--pkgs", "workflows", "package"]
    subprocess.run(
        [*command, "--image", PACKAGE_IMAGE, "--output", str(out), "--force"], cwd=REPO, check=True, capture_output=True
    )
    from flyteidl.admin import launch_plan_pb2, task_pb2, workflow_pb2

    entities: dict[str, object] = {}
    with tarfile.open(out) as archive:
        for member in archive.getmembers():
            data = archive.extractfile(member).read()
            name, kind = member.name.split("_", 1)[1].rsplit("_", 1)
            message = {
                "1.pb": task_pb2.TaskSpec,
                "2.pb": workflow_pb2.WorkflowSpec,
                "3.pb": launch_plan_pb2.LaunchPlan,
            }[kind]()
            message.ParseFromString(data)
            entities[f"{name}:{kind[0]}"] = message
    return entities
