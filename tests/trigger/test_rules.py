"""The decision table: launch (style folder, output key) or skip (reason), and that results never re-trigger."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from lambda_trigger.events import UploadRecord
from lambda_trigger.rules import IMAGE_EXTENSIONS, Launch, Skip, decide, style_keys
from lambda_trigger.settings import ConfigError, Settings

DEFAULTS = Settings(allowed_buckets=("nst-b",))


def record(key: str, event_name: str = "ObjectCreated:Put", size: int | None = 1000) -> UploadRecord:
    return UploadRecord("nst-b", key, size, "etag", None, "0A", event_name, None)


@pytest.mark.parametrize(
    ("key", "style", "output"),
    [
        ("uploads/photo.jpg", None, "stylized/photo.jpg.png"),
        ("uploads/monet/photo.jpg", "monet", "stylized/monet/photo.jpg.png"),
        ("uploads/monet/trip/day 1/photo.jpeg", "monet", "stylized/monet/trip/day 1/photo.jpeg.png"),
        ("uploads/photo.PNG", None, "stylized/photo.PNG.png"),
        ("uploads/a.b.c.TIFF", None, "stylized/a.b.c.TIFF.png"),
        ("uploads/Monet Night/x.webp", "Monet Night", "stylized/Monet Night/x.webp.png"),
        ("uploads//x.gif", None, "stylized//x.gif.png"),  # an empty folder name names no style
    ],
)
def test_launches(key: str, style: str | None, output: str) -> None:
    assert decide(record(key), DEFAULTS) == Launch(style_name=style, output_key=output)


@pytest.mark.parametrize(
    ("key", "event_name", "size", "reason"),
    [
        ("", "s3:TestEvent", None, "s3:TestEvent"),
        ("uploads/photo.jpg", "ObjectRemoved:Delete", None, "event ObjectRemoved:Delete is not an object creation"),
        ("uploads/photo.jpg", "Object Deleted", None, "event Object Deleted is not an object creation"),
        ("uploads/photo.jpg", "ObjectRestore:Completed", 5, "is not an object creation"),
        ("uploads/monet/", "ObjectCreated:Put", 0, "folder marker"),
        ("stylized/photo.png", "ObjectCreated:Put", 5, "under the output prefix 'stylized/'"),
        ("styles/monet.jpg", "ObjectCreated:Put", 5, "under the style prefix 'styles/'"),
        ("other/photo.jpg", "ObjectCreated:Put", 5, "outside the upload prefix 'uploads/'"),
        ("uploadsX/photo.jpg", "ObjectCreated:Put", 5, "outside the upload prefix 'uploads/'"),
        ("uploads/notes.txt", "ObjectCreated:Put", 5, "not an image ('.txt'; accepted: .jpg"),
        ("uploads/README", "ObjectCreated:Put", 5, "not an image (no extension;"),
        ("uploads/.jpg", "ObjectCreated:Put", 5, "not an image (no extension;"),
        ("uploads/empty.jpg", "ObjectCreated:Put", 0, "zero-byte object"),
    ],
)
def test_skips_with_a_reason(key: str, event_name: str, size: int | None, reason: str) -> None:
    decision = decide(record(key, event_name, size), DEFAULTS)
    assert isinstance(decision, Skip) and reason in decision.reason


@pytest.mark.parametrize("extension", [*IMAGE_EXTENSIONS, ".JPG", ".Jpeg", ".TiF", ".GIF", ".WebP"])
def test_image_extensions_are_compared_case_insensitively(extension: str) -> None:
    assert isinstance(decide(record(f"uploads/x{extension}"), DEFAULTS), Launch)


def test_every_created_event_name_launches() -> None:
    for name in (
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectCreated:Copy",
        "ObjectCreated:CompleteMultipartUpload",
        "Object Created",
    ):
        assert isinstance(decide(record("uploads/x.jpg", name), DEFAULTS), Launch), name


def test_style_keys_in_lookup_order() -> None:
    assert style_keys(DEFAULTS, "monet") == [
        "styles/monet.jpg",
        "styles/monet.jpeg",
        "styles/monet.png",
        "styles/monet.webp",
    ]


def test_whole_bucket_upload_prefix_still_skips_results_and_styles() -> None:
    everything = dataclasses.replace(DEFAULTS, upload_prefix="")
    assert decide(record("photo.jpg"), everything) == Launch(None, "stylized/photo.jpg.png")
    assert decide(record("monet/photo.jpg"), everything) == Launch("monet", "stylized/monet/photo.jpg.png")
    assert "output prefix" in decide(record("stylized/photo.png"), everything).reason  # type: ignore[union-attr]
    assert "style prefix" in decide(record("styles/monet.jpg"), everything).reason  # type: ignore[union-attr]


segment = st.text(st.sampled_from("abs-"), min_size=1, max_size=3)
prefix = st.lists(segment, min_size=1, max_size=2).map(lambda parts: "/".join(parts) + "/")
relative_key = st.text(st.sampled_from("ab/ .-é+%"), min_size=1, max_size=12)


@settings(max_examples=400)
@given(
    upload=st.one_of(st.just(""), prefix),
    style=prefix,
    output=prefix,
    relative=relative_key,
    extension=st.sampled_from(IMAGE_EXTENSIONS),
)
def test_a_result_can_never_trigger_another_run(
    upload: str, style: str, output: str, relative: str, extension: str
) -> None:
    """For every layout Settings accepts, the output key of any launched upload is itself skipped."""
    try:
        layout = dataclasses.replace(DEFAULTS, upload_prefix=upload, style_prefix=style, output_prefix=output)
    except ConfigError:
        event("layout refused")
        return
    decision = decide(record(upload + relative + extension), layout)
    event(type(decision).__name__)
    if isinstance(decision, Launch):
        assert decision.output_key.startswith(output)
        assert isinstance(decide(record(decision.output_key), layout), Skip)
