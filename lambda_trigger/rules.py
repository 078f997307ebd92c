"""The pure decision for one record: launch (and with which style and output key) or skip, with a reason.

No I/O here: whether a named style exists is checked later (``styles.py``), because it needs S3.

Bucket layout (prefixes from settings; defaults shown)::

    uploads/photo.jpg              -> style NST_STYLE_URI,          output stylized/photo.jpg.png
    uploads/monet/photo.jpg        -> style styles/monet.<ext>,     output stylized/monet/photo.jpg.png
    uploads/monet/trip/photo.png   -> style styles/monet.<ext>,     output stylized/monet/trip/photo.png.png

The naming rule: the output is the upload's key below the upload prefix, with ``.png`` appended (``.tiff`` or
``.jpg`` where the upload's ``nst-output-format`` asks for a TIFF or a JPEG), under the output prefix; its side files
are the output's key with a reserved suffix (``SIDE_SUFFIXES``) appended. Appending a fixed string is injective, so no
two uploads share an output (``a.jpg`` and ``a.png`` included; no extension ends another, so two formats do not
meet either). A side file ends in
``.png.progress.json`` or ``.png.preview.png``; an output ends in an image extension then ``.png``: for an output
to be a side file, the upload would have to end in ``.png.preview`` (not an image extension, so never an upload),
and a side file of one upload is never another's side file because the suffixes differ in their last part. The
only keys that break the rule are those whose longest side file would exceed S3's 1024 bytes: refused.

The output and style prefixes are checked before the upload prefix, so a result or a style image can never start
an execution, even when the upload prefix is empty (the whole bucket) or contains the other two.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from lambda_trigger.events import MAX_KEY_BYTES, UploadRecord
from lambda_trigger.settings import Settings

#: Extensions accepted as uploads (compared case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: Extensions looked up, in this order, for a style named by an upload's folder.
STYLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
#: The extension the naming rule appends, by the run's output format (``workflows/result_formats.py``'s
#: ``EXTENSIONS``, restated because the Lambda package has no ``workflows``: a test compares them). None of them ends
#: another, so appending one stays injective.
OUTPUT_EXTENSIONS = {"png8": ".png", "png16": ".png", "tiff16": ".tiff", "jpeg": ".jpg"}
OUTPUT_EXTENSION = OUTPUT_EXTENSIONS["png8"]
#: The suffixes reserved for the files written beside a result (workflows/progress_records.py; restated because the
#: Lambda package has no ``workflows``: a test compares them).
SIDE_SUFFIXES = (".progress.json", ".preview.png")


@dataclass(frozen=True)
class Launch:
    """Start an execution for this upload."""

    style_name: str | None  #: the upload's first folder below the upload prefix; None: use NST_STYLE_URI
    output_key: str


@dataclass(frozen=True)
class Skip:
    """Nothing to do for this record, and why."""

    reason: str
    #: Where the upload's status record goes when the record is an upload after all (under the upload prefix, its
    #: output key within the naming rule): not an image, empty. None for anything that is nobody's upload.
    output_key: str | None = None


@dataclass(frozen=True)
class Refuse:
    """An upload that must not be launched: it fails (the event is kept for a person to look at), and why."""

    error: str


def decide(record: UploadRecord, settings: Settings) -> Launch | Skip | Refuse:
    """Apply the decision table (README.md) to one record."""
    key = record.key
    if record.is_test_event:
        return Skip("s3:TestEvent (sent when a notification configuration is saved)")
    if record.bucket not in settings.allowed_buckets:
        return Skip(f"bucket {record.bucket!r} is not in NST_ALLOWED_BUCKETS ({', '.join(settings.allowed_buckets)})")
    if not record.is_object_created:
        return Skip(f"event {record.event_name} is not an object creation")
    if key.endswith("/"):
        return Skip("folder marker (key ends with '/')")
    if key.startswith(settings.output_prefix):
        return Skip(f"under the output prefix {settings.output_prefix!r} (results never trigger)")
    if key.startswith(settings.style_prefix):
        return Skip(f"under the style prefix {settings.style_prefix!r} (style images are not uploads)")
    if not key.startswith(settings.upload_prefix):
        return Skip(f"outside the upload prefix {settings.upload_prefix!r}")
    relative = key[len(settings.upload_prefix) :]
    output_key = output_key_of(settings.output_prefix, relative)
    extension = posixpath.splitext(key)[1].lower()
    if extension not in IMAGE_EXTENSIONS:
        shown = repr(extension) if extension else "no extension"
        return Skip(f"not an image ({shown}; accepted: {' '.join(IMAGE_EXTENSIONS)})", _recordable(key, output_key))
    if record.size == 0:
        return Skip("zero-byte object", _recordable(key, output_key))
    if _has_dot_segment(key):
        # A client that normalises paths would read 'stylized/a/../../x.png' as 'x.png', outside the output prefix.
        return Refuse(
            f"key has a '.' or '..' path segment; refused so no output can land outside {settings.output_prefix!r}"
        )
    folder, _, rest = relative.partition("/")
    style_name = folder if rest and folder else None
    # Checked for the longest extension: the output format is the upload's metadata's, read after this decision.
    longest_output = output_key_of(settings.output_prefix, relative, max(OUTPUT_EXTENSIONS.values(), key=len))
    longest = max(written_keys(longest_output), key=lambda written: len(written.encode("utf-8")))
    longest_bytes = len(longest.encode("utf-8"))
    if longest_bytes > MAX_KEY_BYTES:
        # Found now, before any work, rather than when the finished image or its progress cannot be written.
        what = "output key" if longest == longest_output else f"side file {longest[len(longest_output) :]!r} key"
        return Refuse(
            f"{what} would be {longest_bytes:,} bytes under {settings.output_prefix!r}; S3 keys are at most "
            f"{MAX_KEY_BYTES} bytes (shorten the upload's name)"
        )
    return Launch(style_name=style_name, output_key=output_key)


def output_key_of(output_prefix: str, relative: str, extension: str = OUTPUT_EXTENSION) -> str:
    """The naming rule (module docstring): the upload's key below the upload prefix, ``.png`` (or its output
    format's extension) appended."""
    return output_prefix + relative + extension


def in_format(output_key: str, output_format: str) -> str:
    """``output_key`` (the rule's, ending ``.png``) for a run whose result is ``output_format``."""
    return output_key.removesuffix(OUTPUT_EXTENSION) + OUTPUT_EXTENSIONS[output_format]


def _has_dot_segment(key: str) -> bool:
    return any(segment in (".", "..") for segment in key.split("/"))


def _recordable(key: str, output_key: str) -> str | None:
    """``output_key`` if the upload's status record can be written beside it: never where a '.' or '..' segment
    could be read as another path, nor past S3's key length."""
    if _has_dot_segment(key) or len(progress_key(output_key).encode("utf-8")) > MAX_KEY_BYTES:
        return None
    return output_key


def progress_key(output_key: str) -> str:
    """Where an upload's status record is, beside its result: the trigger's and then the run's
    (``status_records.py``)."""
    return output_key + SIDE_SUFFIXES[0]


def preview_key(output_key: str) -> str:
    """Where a run writes its instant preview, beside its result."""
    return output_key + SIDE_SUFFIXES[1]


def written_keys(output_key: str) -> tuple[str, ...]:
    """Every key a run writes for one upload: the result and each side file beside it."""
    return (output_key, *(output_key + suffix for suffix in SIDE_SUFFIXES))


def style_keys(settings: Settings, style_name: str) -> list[str]:
    """The keys tried, in order, for a named style."""
    return [f"{settings.style_prefix}{style_name}{extension}" for extension in STYLE_EXTENSIONS]
