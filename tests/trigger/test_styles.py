"""Style lookup against a real S3 protocol server (moto on loopback), cache included."""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from botocore.config import Config

from lambda_trigger.options import S3Metadata, UnreadMetadata
from lambda_trigger.pipeline import Trigger
from lambda_trigger.s3 import ObjectStore
from lambda_trigger.settings import Settings
from lambda_trigger.styles import S3StyleResolver, StyleError, UncheckedStyleResolver
from tests.conftest import free_port
from tests.fakes import BUCKET

UPLOAD = f"s3://{BUCKET}/uploads/monet/beach.jpg"
SETTINGS = Settings(style_uri="s3://shared/styles/default.jpg")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_existing_extension_wins(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="styles/monet.webp", Body=b"w")
    s3.put_object(Bucket=BUCKET, Key="styles/monet.png", Body=b"p")
    assert S3StyleResolver(SETTINGS).resolve(BUCKET, "monet", UPLOAD) == f"s3://{BUCKET}/styles/monet.png"
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpeg", Body=b"j")
    assert S3StyleResolver(SETTINGS).resolve(BUCKET, "monet", UPLOAD) == f"s3://{BUCKET}/styles/monet.jpeg"


def test_a_missing_style_names_the_style_every_key_tried_and_the_upload(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="styles/monet.gif", Body=b"not a style extension")
    with pytest.raises(StyleError) as caught:
        S3StyleResolver(SETTINGS).resolve(BUCKET, "monet", UPLOAD)
    assert str(caught.value) == (
        f"style 'monet' not found: tried s3://{BUCKET}/styles/monet.jpg, s3://{BUCKET}/styles/monet.jpeg, "
        f"s3://{BUCKET}/styles/monet.png, s3://{BUCKET}/styles/monet.webp (upload {UPLOAD})"
    )


def test_style_names_with_spaces_and_unicode(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="styles/Nuit étoilée+1.jpg", Body=b"j")
    resolved = S3StyleResolver(SETTINGS).resolve(BUCKET, "Nuit étoilée+1", UPLOAD)
    assert resolved == f"s3://{BUCKET}/styles/Nuit étoilée+1.jpg"


def test_the_style_prefix_setting_is_used(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="looks/monet.jpg", Body=b"j")
    settings = dataclasses.replace(SETTINGS, style_prefix="looks/")
    assert S3StyleResolver(settings).resolve(BUCKET, "monet", UPLOAD) == f"s3://{BUCKET}/looks/monet.jpg"


def test_hits_are_cached_for_the_configured_time(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"j")
    clock = Clock()
    resolver = S3StyleResolver(dataclasses.replace(SETTINGS, style_cache_s=60), clock=clock)
    assert resolver.resolve(BUCKET, "monet", UPLOAD).endswith("monet.jpg")
    s3.delete_object(Bucket=BUCKET, Key="styles/monet.jpg")
    clock.now += 59
    assert resolver.resolve(BUCKET, "monet", UPLOAD).endswith("monet.jpg")  # from the cache: no HeadObject
    clock.now += 2
    with pytest.raises(StyleError, match="not found"):
        resolver.resolve(BUCKET, "monet", UPLOAD)


def test_misses_are_not_cached(s3: Any) -> None:
    resolver = S3StyleResolver(SETTINGS, clock=Clock())
    with pytest.raises(StyleError, match="not found"):
        resolver.resolve(BUCKET, "monet", UPLOAD)
    s3.put_object(Bucket=BUCKET, Key="styles/monet.png", Body=b"p")
    assert resolver.resolve(BUCKET, "monet", UPLOAD).endswith("monet.png")


def test_the_cache_is_per_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket="other-bucket")
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"j")
    resolver = S3StyleResolver(SETTINGS)
    assert resolver.resolve(BUCKET, "monet", UPLOAD).endswith("monet.jpg")
    with pytest.raises(StyleError, match="s3://other-bucket/styles/monet.jpg"):
        resolver.resolve("other-bucket", "monet", "s3://other-bucket/uploads/monet/x.jpg")


def test_no_style_folder_uses_nst_style_uri(s3: Any) -> None:
    assert S3StyleResolver(SETTINGS).resolve(BUCKET, None, UPLOAD) == "s3://shared/styles/default.jpg"


def test_no_style_folder_and_no_nst_style_uri_is_an_error_naming_the_variable() -> None:
    with pytest.raises(StyleError) as caught:
        S3StyleResolver(Settings(allowed_buckets=(BUCKET,))).resolve(BUCKET, None, f"s3://{BUCKET}/uploads/x.jpg")
    assert str(caught.value) == (
        f"no style for s3://{BUCKET}/uploads/x.jpg: it is not in a style folder (uploads/<style>/...) "
        "and NST_STYLE_URI is unset"
    )


def test_an_unreachable_s3_is_a_lookup_failure_not_a_miss(aws: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    factory = lambda: boto3.client("s3", endpoint_url=dead, config=Config(retries={"max_attempts": 1}))
    with pytest.raises(StyleError) as caught:
        S3StyleResolver(SETTINGS, ObjectStore(SETTINGS, client_factory=factory)).resolve(BUCKET, "monet", UPLOAD)
    message = str(caught.value)
    assert message.startswith(f"style 'monet' lookup failed at s3://{BUCKET}/styles/monet.jpg: Could not connect")
    assert message.endswith(f"(upload {UPLOAD})")


def test_a_missing_bucket_reports_not_found(aws: str) -> None:
    with pytest.raises(StyleError, match="style 'monet' not found"):
        S3StyleResolver(SETTINGS).resolve("no-such-bucket", "monet", "s3://no-such-bucket/uploads/monet/x.jpg")


def test_dry_run_reports_the_pattern_without_any_call() -> None:
    trigger = Trigger.from_settings(dataclasses.replace(SETTINGS, launch_mode="dry-run"), Logger(service="t"))
    assert isinstance(trigger.styles, UncheckedStyleResolver) and isinstance(trigger.metadata, UnreadMetadata)
    assert trigger.launcher.mode == "dry-run"
    resolver = trigger.styles
    assert resolver.resolve(BUCKET, "monet", UPLOAD) == f"s3://{BUCKET}/styles/monet.{{jpg,jpeg,png,webp}}"
    assert resolver.resolve(BUCKET, None, UPLOAD) == "s3://shared/styles/default.jpg"


def test_remote_wiring_shares_one_s3_store_and_takes_a_hosts_launcher() -> None:
    """One place builds the parts for the mode; a host (the local stack) hands in its own launcher."""
    trigger = Trigger.from_settings(SETTINGS, Logger(service="t"))
    assert isinstance(trigger.styles, S3StyleResolver) and isinstance(trigger.metadata, S3Metadata)
    assert trigger.styles._store is trigger.metadata._store  # one S3 client per container
    assert trigger.launcher.mode == "remote"

    class Host:
        mode = "host"

        def launch(self, request):  # pragma: no cover - never called here
            raise AssertionError

    assert Trigger.from_settings(SETTINGS, Logger(service="t"), launcher=Host()).launcher.mode == "host"
