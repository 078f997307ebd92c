"""The web API's configuration: the trigger's NST_* settings (the same variables, read by the same code) plus its own.

A bad value raises :class:`~lambda_trigger.settings.ConfigError` naming the variable, when the app is made (the
Lambda's init phase, or ``make web``'s start), not at the first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lambda_trigger.settings import ConfigError, Settings

#: The largest photo preprocessing reads (``workflows/images.py`` MAX_DECODE_BYTES, restated: the web package ships
#: without ``workflows``; ``tests/web/test_api.py`` compares them). The POST policy's ``content-length-range``.
MAX_DECODE_BYTES = 1_200_000_000
#: How long a presigned POST may be used, and how long a presigned GET (thumbnail, preview, result) works.
UPLOAD_EXPIRY_S = 300
URL_EXPIRY_S = 300

#: Every variable the web API reads besides the trigger's (``lambda_trigger.settings.VARIABLES``).
WEB_VARIABLES = (
    "NST_WEB_BUCKET",
    "NST_WEB_ORIGIN",
    "NST_WEB_API_BASE",
    "NST_WEB_MAX_UPLOAD_BYTES",
    "NST_WEB_UPLOAD_EXPIRY_S",
    "NST_WEB_URL_EXPIRY_S",
)


@dataclass(frozen=True)
class WebSettings:
    """What the API needs: the trigger's settings (prefixes, allowed buckets, NST_MAX_DIM) and its own."""

    trigger: Settings
    #: the bucket uploads go to and results are read from; one of the trigger's NST_ALLOWED_BUCKETS
    bucket: str
    #: the page's origin, the only one CORS allows (NST_WEB_ORIGIN); None: same origin only (``make web``)
    origin: str | None = None
    #: what ``/config.json`` tells the page: the API's base URL ("" = the page's own origin)
    api_base: str = ""
    max_upload_bytes: int = MAX_DECODE_BYTES
    upload_expiry_s: int = UPLOAD_EXPIRY_S
    url_expiry_s: int = URL_EXPIRY_S

    def __post_init__(self) -> None:
        if self.bucket not in self.trigger.allowed_buckets:
            raise ConfigError(
                f"NST_WEB_BUCKET={self.bucket!r} is not in NST_ALLOWED_BUCKETS "
                f"({', '.join(self.trigger.allowed_buckets)}): the trigger would skip every upload"
            )
        if not 1 <= self.max_upload_bytes <= MAX_DECODE_BYTES:
            raise ConfigError(
                f"NST_WEB_MAX_UPLOAD_BYTES={self.max_upload_bytes} must be from 1 to {MAX_DECODE_BYTES:,} "
                "(the largest photo preprocessing reads)"
            )
        for name, seconds in (
            ("NST_WEB_UPLOAD_EXPIRY_S", self.upload_expiry_s),
            ("NST_WEB_URL_EXPIRY_S", self.url_expiry_s),
        ):
            if not 1 <= seconds <= 3600:
                raise ConfigError(f"{name}={seconds} must be from 1 to 3600 seconds (minutes, not days)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        env = os.environ if env is None else env
        trigger = Settings.from_env(env)
        bucket = env.get("NST_WEB_BUCKET", "").strip()
        if not bucket:
            if len(trigger.allowed_buckets) != 1:
                raise ConfigError(
                    "NST_WEB_BUCKET is unset and NST_ALLOWED_BUCKETS lists "
                    f"{len(trigger.allowed_buckets)} buckets: set NST_WEB_BUCKET to the bucket uploads go to"
                )
            bucket = trigger.allowed_buckets[0]
        return cls(
            trigger=trigger,
            bucket=bucket,
            origin=_origin(env.get("NST_WEB_ORIGIN", "").strip()),
            api_base=env.get("NST_WEB_API_BASE", "").strip().rstrip("/"),
            max_upload_bytes=_int(env, "NST_WEB_MAX_UPLOAD_BYTES", MAX_DECODE_BYTES),
            upload_expiry_s=_int(env, "NST_WEB_UPLOAD_EXPIRY_S", UPLOAD_EXPIRY_S),
            url_expiry_s=_int(env, "NST_WEB_URL_EXPIRY_S", URL_EXPIRY_S),
        )

    def s3_client(self, endpoint_url: str | None = None) -> Any:
        """An S3 client with the trigger's deadlines (connect, read, two attempts) that signs with SigV4, as a
        presigned POST needs; without ``endpoint_url`` boto3 honours AWS_ENDPOINT_URL (the local stack's)."""
        import boto3
        from botocore.config import Config

        config = self.trigger.aws_client_config().merge(Config(signature_version="s3v4"))
        return boto3.client("s3", endpoint_url=endpoint_url, config=config)


def _origin(value: str) -> str | None:
    """An origin is a scheme and a host (and port): ``https://photos.example.com``, no path, no trailing '/'."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ConfigError(f"NST_WEB_ORIGIN={value!r} is not an origin like https://photos.example.com")
    return f"{parts.scheme}://{parts.netloc}"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise ConfigError(f"{name}={value!r} is not a whole number")
    return int(value)
