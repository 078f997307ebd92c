"""The naming rule as a property: over generated sets of upload keys, no key written for one upload (its result,
its progress record, its preview) is written for another, and none of them is an upload that would launch."""

from __future__ import annotations

import posixpath

from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_trigger.events import MAX_KEY_BYTES, UploadRecord
from lambda_trigger.rules import IMAGE_EXTENSIONS, SIDE_SUFFIXES, Launch, Refuse, decide, written_keys
from lambda_trigger.settings import Settings
from workflows.progress_records import PREVIEW_SUFFIX, PROGRESS_SUFFIX

DEFAULTS = Settings(allowed_buckets=("nst-b",))
WHOLE_BUCKET = Settings(allowed_buckets=("nst-b",), upload_prefix="")

# Pieces chosen to make collisions likely: every image extension, the side suffixes and their parts, separators.
_PIECES = st.sampled_from(
    [*IMAGE_EXTENSIONS, *(e.upper() for e in IMAGE_EXTENSIONS), *SIDE_SUFFIXES, ".preview", ".progress", ".json"]
    + ["a", "b", "x", "-", "/", ".", "é", " ", "monet/", "stylized/", "uploads/", "styles/"]
)
_NAMES = st.lists(_PIECES, min_size=1, max_size=6).map("".join)


def record(key: str) -> UploadRecord:
    return UploadRecord("nst-b", key, 1000, "etag", None, "0A", "ObjectCreated:Put", None)


def _written_by_each(keys: set[str], settings_: Settings) -> dict[str, tuple[str, ...]]:
    written = {}
    for key in keys:
        decision = decide(record(key), settings_)
        if isinstance(decision, Launch):
            written[key] = written_keys(decision.output_key)
    return written


@settings(max_examples=400, deadline=None)
@given(names=st.sets(_NAMES, min_size=2, max_size=12), whole_bucket=st.booleans())
def test_no_two_uploads_share_a_written_key(names: set[str], whole_bucket: bool) -> None:
    settings_ = WHOLE_BUCKET if whole_bucket else DEFAULTS
    keys = {settings_.upload_prefix + name for name in names}
    written = _written_by_each(keys, settings_)
    owners: dict[str, str] = {}
    for upload, outputs in written.items():
        for output in outputs:
            assert output not in owners, f"{output!r} is written for both {owners[output]!r} and {upload!r}"
            owners[output] = upload
    for output in owners:
        assert not isinstance(decide(record(output), settings_), Launch), f"{output!r} would start a run"


def test_same_stem_other_extension_and_the_preview_lookalike_have_their_own_outputs() -> None:
    keys = {"uploads/a.jpg", "uploads/a.png", "uploads/a.png.preview.jpg", "uploads/a/x.jpg", "uploads/b/x.jpg"}
    written = _written_by_each(keys, DEFAULTS)
    assert written["uploads/a.jpg"][0] == "stylized/a.jpg.png"
    assert written["uploads/a.png"] == (
        "stylized/a.png.png",
        "stylized/a.png.png.progress.json",
        "stylized/a.png.png.preview.png",
    )
    assert written["uploads/a.png.preview.jpg"][0] == "stylized/a.png.preview.jpg.png"
    assert len({key for outputs in written.values() for key in outputs}) == 3 * len(keys)


def test_a_key_whose_progress_record_could_not_exist_is_refused_naming_the_side_file() -> None:
    # its output 'stylized/<name>.tiff' (the longest extension an output format gives) is 1,019 bytes, its progress
    # record 1,033
    name = "x" * 1001 + ".jpg"
    decision = decide(record("uploads/" + name), DEFAULTS)
    assert isinstance(decision, Refuse)
    assert decision.error == (
        "side file '.progress.json' key would be 1,033 bytes under 'stylized/'; S3 keys are at most 1024 bytes "
        "(shorten the upload's name)"
    )
    fits = "x" * (MAX_KEY_BYTES - len("stylized/") - len(".jpg.tiff.progress.json")) + ".jpg"
    assert isinstance(decide(record("uploads/" + fits), DEFAULTS), Launch)
    assert len(written_keys(f"stylized/{fits}.tiff")[1].encode()) == MAX_KEY_BYTES


def test_the_reserved_suffixes_are_the_ones_the_workflow_writes() -> None:
    assert SIDE_SUFFIXES == (PROGRESS_SUFFIX, PREVIEW_SUFFIX)
    assert all(posixpath.splitext(suffix)[0] not in IMAGE_EXTENSIONS for suffix in SIDE_SUFFIXES)
