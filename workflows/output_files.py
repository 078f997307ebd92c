"""Writing a run's outputs: the PNG blob type, the check of ``output_uri``, files written atomically, and the
side files written beside the result (its progress record and preview)."""

from __future__ import annotations

import os
import tempfile
import typing
from pathlib import Path

from flytekit.core.context_manager import FlyteContextManager
from flytekit.types.file import FlyteFile

from workflows.engine.options import OptionError
from workflows.task_log import log

if typing.TYPE_CHECKING:
    PngFile: typing.TypeAlias = FlyteFile
    ResultFile: typing.TypeAlias = FlyteFile
else:
    PngFile = FlyteFile[typing.TypeVar("png")]  # the blob format Flyte records for the output: a style sheet's
    ResultFile = FlyteFile[typing.TypeVar("image")]  # a run's result, in its output_format (PNG, TIFF or JPEG)

_UMASK = os.umask(0)
os.umask(_UMASK)


#: Extensions a file of each output format may be named with (``result_formats.EXTENSIONS`` gives the first).
FORMAT_EXTENSIONS = {
    "png8": (".png",),
    "png16": (".png",),
    "tiff16": (".tiff", ".tif"),
    "jpeg": (".jpg", ".jpeg"),
}


def check_output_uri(output_uri: str, output_format: str = "png8") -> None:
    """``output_uri`` must name a file; one whose extension is another format's would hold bytes its name belies."""
    if output_uri.endswith("/"):
        raise OptionError(f"output_uri={output_uri!r}: must name a file, not a folder")
    extension = os.path.splitext(output_uri.rsplit("/", 1)[-1])[1].lower()
    named = {ext for extensions in FORMAT_EXTENSIONS.values() for ext in extensions}
    if extension in named and extension not in FORMAT_EXTENSIONS[output_format]:
        raise OptionError(
            f"output_uri={output_uri!r}: ends in {extension}, but output_format={output_format!r} writes "
            f"{' or '.join(FORMAT_EXTENSIONS[output_format])}"
        )


def write_atomically(path: Path, data: bytes) -> Path:
    """Write under a temporary name in the same folder, then rename into place: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes the file private; the result is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_beside(output_uri: str, suffix: str, data: bytes) -> None:
    """Overwrite ``output_uri + suffix`` (a progress record or preview); a failure is logged, never fatal."""
    target = output_uri + suffix
    try:
        if "://" not in target:
            write_atomically(Path(target), data)
        else:
            store = FlyteContextManager.current_context().file_access.get_filesystem_for_path(target)
            store.pipe_file(target, data)
    except Exception as exc:
        log.warning("could not write %s: %s", target, exc)
