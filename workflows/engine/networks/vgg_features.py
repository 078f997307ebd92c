"""The VGG19 feature extractor, truncated after the deepest layer the losses read.

Which weights it carries is chosen by ``NST_VGG19_WEIGHTS``:

* ``imagenet`` (default): Keras' own download-and-cache of the notop weights
  (``$KERAS_HOME/models``; the task image bakes the file in at build time);
* a local path or ``s3://`` URI of a notop ``.h5`` weights file;
* ``random``: seeded He-normal weights, for tests and offline smoke runs only.
  The output is then *not* a real stylization, and a warning says so.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workflows.engine.framework import keras, tf

log = logging.getLogger(__name__)

WEIGHTS_ENV = "NST_VGG19_WEIGHTS"
CONTENT_LAYERS: tuple[str, ...] = ("block5_conv2",)
STYLE_LAYERS: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
RANDOM_SEED = 19

# Caffe-style input expected by the ImageNet VGG weights: BGR, 0..255, mean-centred.
_BGR_MEAN = tf.constant([103.939, 116.779, 123.68], dtype=tf.float32)


class WeightsUnavailableError(RuntimeError):
    """The configured VGG19 weights cannot be loaded; the message says how to fix ``NST_VGG19_WEIGHTS``."""


@dataclass(frozen=True)
class WeightsSource:
    """What ``NST_VGG19_WEIGHTS`` resolved to: ``kind`` is imagenet, file or random."""

    kind: str
    location: str = ""


def weights_from_env(value: str | None = None) -> WeightsSource:
    """Parse the weights setting (the environment's unless ``value`` is given)."""
    raw = (os.environ.get(WEIGHTS_ENV, "") if value is None else value).strip()
    if raw in ("", "imagenet"):
        return WeightsSource("imagenet")
    if raw == "random":
        return WeightsSource("random")
    if raw.startswith("s3://") or raw.endswith(".h5"):
        return WeightsSource("file", raw)
    raise WeightsUnavailableError(
        f"{WEIGHTS_ENV}={raw!r} is not understood: use 'imagenet', 'random', or a path or s3:// URI of a .h5 file"
    )


def to_vgg_input(image: tf.Tensor) -> tf.Tensor:
    """Map RGB pixels in [0, 1] to the BGR, mean-centred 0..255 input VGG19 was trained on."""
    return image[..., ::-1] * 255.0 - _BGR_MEAN


def feature_extractor(source: WeightsSource | None = None, precision: str = "float32") -> keras.Model:
    """A frozen model mapping VGG inputs to [style layer outputs..., content layer outputs...].

    Built once per process, weights source and precision: every optimisation in the same process (epochs,
    pyramid levels, tests, benchmarks) reuses it. With ``bfloat16`` the convolutions compute in bfloat16 (the
    weights stay float32); callers cast the outputs back to float32 for the Gram matrices and losses.
    """
    return _extractor(source or weights_from_env(), precision)


@functools.lru_cache(maxsize=8)
def _extractor(source: WeightsSource, precision: str) -> keras.Model:
    if precision != "float32":
        return _with_compute_dtype(_extractor(source, "float32"), precision)
    vgg = _vgg19(source)
    outputs = [vgg.get_layer(name).output for name in STYLE_LAYERS + CONTENT_LAYERS]
    model = keras.Model(inputs=vgg.input, outputs=outputs, name="vgg19_style_content")
    model.trainable = False
    return model


def _with_compute_dtype(model: keras.Model, precision: str) -> keras.Model:
    """The same network and weights, computing in ``precision`` (Keras' mixed policy: float32 variables)."""
    policy = keras.DTypePolicy(f"mixed_{precision}")

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.InputLayer):
            return layer.__class__.from_config(layer.get_config())
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


def _vgg19(source: WeightsSource) -> keras.Model:
    if source.kind == "random":
        log.warning(
            "%s=random: VGG19 has random weights, so the output is NOT a real stylization "
            "(use this for tests and offline smoke runs only)",
            WEIGHTS_ENV,
        )
        vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
        _he_normal_init(vgg, RANDOM_SEED)
        return vgg
    if source.kind == "imagenet":
        try:
            return keras.applications.VGG19(include_top=False, weights="imagenet", input_shape=(None, None, 3))
        except Exception as exc:  # Keras raises a bare Exception on a failed fetch
            raise WeightsUnavailableError(
                "cannot load the ImageNet VGG19 weights: they are not in the Keras cache "
                f"({_keras_cache_dir()}) and downloading them failed ({exc}). Set {WEIGHTS_ENV} to a local "
                "path or s3:// URI of vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5, or to 'random' "
                "for an offline smoke run"
            ) from exc
    path = _local_weights_file(source.location)
    try:
        return keras.applications.VGG19(include_top=False, weights=str(path), input_shape=(None, None, 3))
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{WEIGHTS_ENV}={source.location}: not a VGG19 notop weights file ({exc})"
        ) from exc


def _local_weights_file(location: str) -> Path:
    if not location.startswith("s3://"):
        path = Path(location).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"{WEIGHTS_ENV}={location}: no such file")
        return path
    import boto3  # only needed for this path; keeps import time low elsewhere

    bucket, _, key = location[len("s3://") :].partition("/")
    # Keep the object's own file name: Keras tells its weights formats apart by suffix (.weights.h5 vs .h5).
    tag = hashlib.sha256(location.encode()).hexdigest()[:16]
    cached = Path(tempfile.gettempdir()) / f"nst-vgg19-{tag}-{Path(key).name}"
    if not cached.is_file():
        partial = cached.with_name(cached.name + ".part")
        try:
            boto3.client("s3").download_file(bucket, key, str(partial))
        except Exception as exc:
            raise WeightsUnavailableError(f"{WEIGHTS_ENV}={location}: download failed ({exc})") from exc
        partial.replace(cached)
    return cached


def _keras_cache_dir() -> str:
    return str(Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models")


def _he_normal_init(model: keras.Model, seed: int) -> None:
    """Deterministic He-normal kernels and zero biases: activations keep their scale through 16 ReLU layers."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            fan_in = float(np.prod(kernel.shape[:-1]))
            layer.set_weights(
                [
                    rng.normal(0.0, np.sqrt(2.0 / fan_in), size=kernel.shape).astype(np.float32),
                    np.zeros_like(bias),
                ]
            )
