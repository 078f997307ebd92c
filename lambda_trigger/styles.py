"""Which style image an upload gets: NST_STYLE_URI, or ``<style prefix><name>.<ext>`` in the upload's bucket.

A named style is looked up with S3 HeadObject (cheap, no download) trying ``.jpg .jpeg .png .webp`` in that order;
the first that exists wins. A missing style fails the record: silently falling back to another style would give
the user a result they did not ask for. Found styles are cached per container for NST_STYLE_CACHE_S seconds;
misses are not cached, so a style uploaded after a failed attempt is found when the event is retried.

HeadObject answers 404 for a missing key only when the caller may list the bucket (``s3:ListBucket``); without it
S3 answers 403, which is reported as a lookup failure rather than "not found".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from lambda_trigger import budget as budgets
from lambda_trigger import rules
from lambda_trigger.settings import Settings

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
#: The budget's name for S3: once a lookup finds it down, the invocation's other lookups fail at once.
S3 = "S3"


class StyleError(Exception):
    """No usable style for an upload; the message is one line naming the style, the keys tried and the upload."""


class StyleResolver(Protocol):
    """Finds the style image URI for an upload."""

    def resolve(self, bucket: str, style_name: str | None, upload_uri: str) -> str:
        """The style URI for an upload; raises :class:`StyleError`."""
        ...


def default_style(settings: Settings, upload_uri: str) -> str:
    """NST_STYLE_URI, for uploads that name no style folder."""
    if settings.style_uri is None:
        raise StyleError(
            f"no style for {upload_uri}: it is not in a style folder (uploads/<style>/...) and NST_STYLE_URI is unset"
        )
    return settings.style_uri


class S3StyleResolver:
    """Looks named styles up in S3 (HeadObject) and caches the hits briefly."""

    def __init__(
        self,
        settings: Settings,
        client_factory: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._client_factory = client_factory or (lambda: _s3_client(settings))
        self._client: Any = None
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
        from botocore.exceptions import BotoCoreError, ClientError

        budget = budgets.current()
        budget.check_up(S3)
        if self._client is None:
            self._client = self._client_factory()
        keys = rules.style_keys(self._settings, style_name)
        for key in keys:
            where = f"s3://{bucket}/{key}"
            budget.require(self._settings.http_call_worst_s, f"style {style_name!r} lookup at {where}")
            try:
                self._client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in _MISSING_CODES:
                    continue
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                hint = " (the trigger's role needs s3:GetObject and s3:ListBucket)" if status == 403 else ""
                error = f"style {style_name!r} lookup failed at {where}: {code or status}{hint} (upload {upload_uri})"
                if isinstance(status, int) and status >= 500:
                    budget.mark_down(S3, f"S3 failed earlier in this invocation: {code or status} at {where}")
                raise StyleError(error) from None
            except BotoCoreError as exc:
                # Timeouts and connection failures: S3 is away, so the rest of the invocation does not wait on it.
                budget.mark_down(S3, f"S3 did not answer earlier in this invocation ({type(exc).__name__} at {where})")
                raise StyleError(
                    f"style {style_name!r} lookup failed at {where}: {exc} (upload {upload_uri})"
                ) from None
            return where
        tried = ", ".join(f"s3://{bucket}/{key}" for key in keys)
        raise StyleError(f"style {style_name!r} not found: tried {tried} (upload {upload_uri})")


class UncheckedStyleResolver:
    """Dry-run: makes no network call, so a named style is reported as the pattern of keys it would try."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def resolve(self, bucket: str, style_name: str | None, upload_uri: str) -> str:
        if style_name is None:
            return default_style(self._settings, upload_uri)
        extensions = ",".join(extension.lstrip(".") for extension in rules.STYLE_EXTENSIONS)
        return f"s3://{bucket}/{self._settings.style_prefix}{style_name}.{{{extensions}}}"


def make_style_resolver(settings: Settings) -> StyleResolver:
    """S3 lookups, except in dry-run mode, which makes no network calls at all."""
    if settings.launch_mode == "dry-run":
        return UncheckedStyleResolver(settings)
    return S3StyleResolver(settings)


def _s3_client(settings: Settings) -> Any:
    """An S3 client with the settings' deadlines; boto3 honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 (local stacks)."""
    import boto3

    return boto3.client("s3", config=settings.aws_client_config())
