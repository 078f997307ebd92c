"""A failed run's status record: the workflow's on_failure handler (workflows/failure_records.py) writes
``{"state": "failed", "reason": ...}`` beside ``output_uri``, the reason being the user error's one line, or a
generic line for anything else; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flytekit.bin.entrypoint import get_traceback_str
from flytekit.exceptions.user import FlyteUserRuntimeException
from PIL import Image

from tests.workflow.cli import pyflyte_run
from workflows.engine.options import OptionError
from workflows.failure_records import failure_reason, generic_reason
from workflows.images import ImageInputError
from workflows.neural_style_transfer import neural_style_transfer_wf
from workflows.progress_records import PROGRESS_SUFFIX


@pytest.fixture
def not_an_image(tmp_path: Path) -> tuple[Path, Path]:
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    style = tmp_path / "style.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(style)
    return notes, style


def test_pyflyte_run_on_a_non_image_leaves_a_failed_record_with_the_users_line(not_an_image, tmp_path) -> None:
    notes, style = not_an_image
    output = tmp_path / "out" / "notes.jpg.png"
    result = pyflyte_run(
        "neural_style_transfer_wf",
        "--content_img",
        str(notes),
        "--style_img",
        str(style),
        "--output_uri",
        str(output),
    )

    assert result.returncode != 0, "the run still fails, with its own error"
    assert "not an image (no decoder recognises the file)" in result.stdout + result.stderr
    record = json.loads(Path(f"{output}{PROGRESS_SUFFIX}").read_text())
    assert record == {
        "state": "failed",
        "reason": f"content image {notes}: not an image (no decoder recognises the file)",
    }
    assert not output.exists()


def test_a_bad_option_in_a_run_to_s3_leaves_its_line_in_the_bucket(not_an_image, flyte_s3) -> None:
    _, style = not_an_image
    s3 = flyte_s3.client()
    s3.create_bucket(Bucket="nst-failures")
    with pytest.raises(OptionError) as raised:  # the workflow's own error, unchanged by the handler
        neural_style_transfer_wf(
            content_img=str(style),
            style_img=str(style),
            style_weight=-1.0,
            output_uri="s3://nst-failures/stylized/style.png.png",
        )
    body = s3.get_object(Bucket="nst-failures", Key="stylized/style.png.png.progress.json")["Body"].read()
    assert json.loads(body) == {"state": "failed", "reason": str(raised.value)}
    assert str(raised.value).startswith("style_weight=-1.0: ")


def test_without_output_uri_the_handler_writes_nothing_and_the_error_is_unchanged(not_an_image, tmp_path) -> None:
    notes, style = not_an_image
    with pytest.raises(ImageInputError, match="not an image"):
        neural_style_transfer_wf(content_img=str(notes), style_img=str(style))
    assert not list(tmp_path.rglob(f"*{PROGRESS_SUFFIX}"))


def error_document(exc: Exception) -> str:
    """What a failed task reports on a cluster (flytekit's entrypoint), for an exception raised by user code."""
    try:
        try:
            raise exc
        except Exception as raised:
            raise FlyteUserRuntimeException(raised) from raised
    except FlyteUserRuntimeException as wrapped:
        return get_traceback_str(wrapped)


def test_on_a_cluster_the_user_errors_line_is_read_from_the_error_document() -> None:
    document = error_document(ImageInputError("content image s3://b/uploads/x.jpg: not an image"))
    assert "Traceback" in document, "the document holds the trace ..."
    reason = failure_reason(f"[fn0] currentAttempt done. Last Error: USER::{document}")
    assert reason == "content image s3://b/uploads/x.jpg: not an image", "... the record only the user's line"


def test_anything_else_is_a_generic_line_naming_the_error_type_never_a_traceback() -> None:
    document = error_document(RuntimeError("CUDA_ERROR_OUT_OF_MEMORY at /opt/secret/path.py line 3\nmore"))
    assert failure_reason(document) == generic_reason("RuntimeError")
    assert failure_reason(None) == generic_reason("no error message")
    assert failure_reason("OOMKilled") == generic_reason("no error message")
    boom = KeyError("x")
    assert failure_reason(str(boom), handled=boom) == generic_reason("KeyError")
    assert "\n" not in generic_reason("RuntimeError") and "Traceback" not in generic_reason("RuntimeError")


def test_a_local_user_error_is_taken_from_the_exception_only_when_it_is_the_reported_one() -> None:
    error = ImageInputError("style image a.png: truncated")
    assert failure_reason(str(error), handled=error) == "style image a.png: truncated"
    other = KeyError("unrelated")  # handled elsewhere: the message is not its text, so it is not used
    assert failure_reason("style image a.png: truncated", handled=other) == generic_reason("no error message")
