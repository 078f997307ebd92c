"""Which style image an upload gets: NST_STYLE_URI, or ``<style prefix><name>.<ext>`` in the upload's bucket.

A named style (the upload's folder, or each name of its ``nst-styles`` metadata) is looked up with S3 HeadObject
(cheap, no download) trying ``.jpg .jpeg .png .webp`` in that order; the first that exists wins. A missing style
fails the record: silently falling back to another style would give the user a result they did not ask for. Found
styles are cached per container for NST_STYLE_CACHE_S seconds; misses are not cached, so a style uploaded after a
failed attempt is found when the event is retried.

HeadObject answers 404 for a missing key only when the caller may list the bucket (``s3:ListBucket``); without it
S3 answers 403, which is reported as a lookup failure rather than "not found".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from lambda_trigger import rules
from lambda_trigger.s3 import ObjectStore, S3CallFailed
from lambda_trigger.settings import Settings


class StyleError(Exception):
    """No usable style for an upload; the message is one line naming the style, the keys tried and the upload."""


class StyleNotFound(StyleError):
    """The upload names no style, or one that does not exist: permanent (a retry finds the same)."""


class StyleResolver(Protocol):
    """Finds the style image URI for an upload."""

    def resolve(self, bucket: str, style_name: str | None, upload_uri: str) -> str:
        """The style URI for an upload; raises :class:`StyleError`."""
        ...


def default_style(settings: Settings, upload_uri: str) -> str:
    """NST_STYLE_URI, for uploads that name no style folder."""
    if settings.style_uri is None:
        raise StyleNotFound(
            f"no style for {upload_uri}: it is not in a style folder (uploads/<style>/...) and NST_STYLE_URI is unset"
        )
    return settings.style_uri


class S3StyleResolver:
    """Looks named styles up in S3 (HeadObject) and caches the hits briefly."""

    def __init__(
        self, settings: Settings, store: ObjectStore | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._store = store or ObjectStore(settings)
        self._clock = clock
        self._hits: dict[tuple[str, str], tuple[str, float]] = {}

    def resolve(self, bucket: str, style_name: str | None, upload_uri: str) -> str:
        if style_name is None:
            return default_style(self._settings, upload_uri)
        cached = self._hits.get((bucket, style_name))
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        uri = self._lookup(bucket, style_name, upload_uri)
        self._hits[(bucket, style_name)] = (uri, self._clock() + self._settings.style_cache_s)
        return uri

    def _lookup(self, bucket: str, style_name: str, upload_uri: str) -> str:
        keys = rules.style_keys(self._settings, style_name)
        for key in keys:
            try:
                found = self._store.head(
                    bucket,
                    key,
                    f"style {style_name!r} lookup",
                    forbidden_hint="the trigger's role needs s3:GetObject and s3:ListBucket",
                    suffix=f" (upload {upload_uri})",
                )
            except S3CallFailed as exc:
                raise StyleError(str(exc)) from None
            if found is not None:
                return f"s3://{bucket}/{key}"
        tried = ", ".join(f"s3://{bucket}/{key}" for key in keys)
        raise StyleNotFound(f"style {style_name!r} not found: tried {tried} (upload {upload_uri})")


class UncheckedStyleResolver:
    """Dry-run: makes no network call, so a named style is reported as the pattern of keys it would try."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def resolve(self, bucket: str, style_name: str | None, upload_uri: str) -> str:
        if style_name is None:
            return default_style(self._settings, upload_uri)
        extensions = ",".join(extension.lstrip(".") for extension in rules.STYLE_EXTENSIONS)
        return f"s3://{bucket}/{self._settings.style_prefix}{style_name}.{{{extensions}}}"
