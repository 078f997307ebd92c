"""The web page's HTTP API (README, "Web page"): one FastAPI app, run by uvicorn locally and by Mangum on Lambda.

    GET  /styles          the styles under the style prefix, each with a presigned thumbnail URL
    GET  /options         the per-upload controls the page shows, with their bounds and the workflow's defaults
    POST /uploads         a presigned POST for one photo, to a key the server chooses
    GET  /uploads/{id}    the upload's state, with presigned URLs for its preview and its result
    GET  /config.json     where the page finds this API ("" = its own origin)
    GET  /                the page itself (web/static/)

Every bound comes from the trigger's one table of per-upload options (``lambda_trigger/options.py``) and its naming
rule (``lambda_trigger/rules.py``): a photo the API accepts is one the trigger launches, with the options checked
the same way. Every answer that refuses is 4xx with one plain line in ``detail``.

``app`` is made from the environment (``web/settings.py``) the first time it is imported by name, so that
``create_app`` can be imported, and tested, without one.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from lambda_trigger import rules
from lambda_trigger.events import UploadRecord
from lambda_trigger.options import (
    CHOICES,
    CONTROLS,
    PREFIX,
    RANGES,
    WORKFLOW_INPUTS,
    MetadataError,
    max_dim_ceiling,
    parse_metadata,
)
from web import status as states
from web.settings import WebSettings
from web.uploads import STYLE_NAME, BadUploadId, UploadId, owner_folder, safe_file_name

STATIC = Path(__file__).resolve().parent / "static"
#: The controls the page shows, in its order, with their labels; each is a key of ``lambda_trigger.options.CONTROLS``.
PAGE_CONTROLS = {
    "nst-mode": "Mode",
    "nst-style-strength": "Style strength",
    "nst-style-scale": "Style scale",
    "nst-preserve-colors": "Preserve colours",
    "nst-max-dim": "Maximum size (pixels, long side)",
}
#: The workflow's defaults of those inputs (``workflows.engine.options.StyleOptions``, restated: the web package ships
#: without ``workflows``; a test compares them). ``max_dim``'s is the deployment's ceiling (NST_MAX_DIM).
WORKFLOW_DEFAULTS: dict[str, str | float] = {
    "mode": "full",
    "style_strength": 1.0,
    "style_scale": 1.0,
    "preserve_colors": "none",
}
#: S3's limit on an object's user metadata: the UTF-8 bytes of every key and value together.
MAX_METADATA_BYTES = 2048
#: A content type as browsers send it for a picture; the POST policy then insists on the ``image/`` prefix.
IMAGE_TYPE = re.compile(r"image/[A-Za-z0-9][A-Za-z0-9.+-]{0,100}")


class UploadRequest(BaseModel):
    """``POST /uploads``'s body."""

    model_config = ConfigDict(extra="forbid")

    file_name: str = Field(min_length=1, max_length=1024)
    content_type: str = Field(max_length=255)
    #: the file's size as the browser knows it; the policy enforces the limit anyway
    size: int | None = Field(default=None, ge=0)
    #: a style under the style prefix; None: the default style (NST_STYLE_URI's, when it is one of them)
    style: str | None = Field(default=None, max_length=200)
    #: ``nst-`` metadata keys and their values, as ``lambda_trigger/options.py`` reads them
    options: dict[str, str] = Field(default_factory=dict, max_length=32)


class Refused(HTTPException):
    """A 4xx whose detail is one plain line."""

    def __init__(self, status_code: int, line: str) -> None:
        super().__init__(status_code=status_code, detail=line)


def create_app(settings: WebSettings, s3: Any = None) -> FastAPI:
    """The app for ``settings``; ``s3`` is a boto3 S3 client (default: :meth:`WebSettings.s3_client`)."""
    client = s3 if s3 is not None else settings.s3_client()
    trigger = settings.trigger
    app = FastAPI(title="Neural style transfer", docs_url=None, redoc_url=None, openapi_url=None)
    if settings.origin is not None:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[settings.origin],
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
            max_age=600,
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return JSONResponse({"detail": f"bad request: {where or 'body'}: {first.get('msg', 'not understood')}"}, 400)

    @app.exception_handler(ClientError)
    @app.exception_handler(BotoCoreError)
    async def storage_failed(request: Request, exc: Exception) -> JSONResponse:
        reason = (
            exc.response.get("Error", {}).get("Code", "error") if isinstance(exc, ClientError) else type(exc).__name__
        )
        return JSONResponse({"detail": f"the bucket did not answer ({reason}); try again in a moment"}, 503)

    def presigned_get(key: str, **params: str) -> str:
        url: str = client.generate_presigned_url(
            "get_object", Params={"Bucket": settings.bucket, "Key": key, **params}, ExpiresIn=settings.url_expiry_s
        )
        return url

    def styles() -> dict[str, str]:
        """Style name -> its key, for every style the trigger resolves by name (``rules.style_keys``: the first
        extension in STYLE_EXTENSIONS wins) whose name the page can carry."""
        found: dict[str, str] = {}
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=settings.bucket, Prefix=trigger.style_prefix, Delimiter="/"
        )
        keys = {item["Key"] for page in pages for item in page.get("Contents", [])}
        names = {posixpath.splitext(key[len(trigger.style_prefix) :])[0] for key in keys}
        for name in sorted(names):
            if STYLE_NAME.fullmatch(name):
                key = next((key for key in rules.style_keys(trigger, name) if key in keys), None)
                if key is not None:
                    found[name] = key
        return found

    def default_style(available: dict[str, str]) -> str | None:
        """NST_STYLE_URI's style, when it is one of the bucket's styles; else the first."""
        uri = trigger.style_uri or ""
        for name, key in available.items():
            if uri == f"s3://{settings.bucket}/{key}":
                return name
        return next(iter(available), None)

    @app.get("/config.json")
    def config() -> dict[str, str]:
        return {"apiBase": settings.api_base}

    @app.get("/styles")
    def list_styles() -> dict[str, Any]:
        available = styles()
        return {
            "styles": [{"name": name, "thumbnail_url": presigned_get(key)} for name, key in available.items()],
            "default": default_style(available),
        }

    @app.get("/options")
    def list_options() -> dict[str, Any]:
        return {
            "controls": [describe_control(key, label, settings) for key, label in PAGE_CONTROLS.items()],
            "max_upload_bytes": settings.max_upload_bytes,
            "extensions": list(rules.IMAGE_EXTENSIONS),
        }

    @app.post("/uploads", status_code=201)
    def create_upload(body: UploadRequest, request: Request) -> dict[str, Any]:
        if not IMAGE_TYPE.fullmatch(body.content_type.strip()):
            given = body.content_type.strip()[:60]
            raise Refused(415, f"not an image: the file's type is {given!r}" if given else "not an image: no type")
        if body.size is not None and body.size > settings.max_upload_bytes:
            raise Refused(
                413, f"too large: {megabytes(body.size)}; the limit is {megabytes(settings.max_upload_bytes)}"
            )
        if body.size == 0:
            raise Refused(400, "the file is empty")
        available = styles()
        style = body.style if body.style is not None else default_style(available)
        if style is None:
            raise Refused(400, "no style to choose: the bucket has no styles")
        if style not in available:
            raise Refused(400, f"unknown style {style[:64]!r}: the styles are {', '.join(available) or 'none'}")
        metadata = upload_metadata(body.options, settings)
        upload_id = UploadId.new(style)
        folder = upload_id.folder(trigger.upload_prefix, owner_folder(jwt_subject(request)))
        key = folder + safe_file_name(body.file_name)
        check_key(key, settings)
        fields = {"Content-Type": body.content_type.strip(), **{f"x-amz-meta-{k}": v for k, v in metadata.items()}}
        conditions: list[Any] = [
            ["content-length-range", 1, settings.max_upload_bytes],
            ["starts-with", "$Content-Type", "image/"],
            *({f"x-amz-meta-{k}": v} for k, v in metadata.items()),
        ]
        post = client.generate_presigned_post(
            settings.bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=settings.upload_expiry_s
        )
        return {
            "id": str(upload_id),
            "key": key,
            "status_url": f"{settings.api_base}/uploads/{upload_id}",
            "upload": {"url": post["url"], "fields": post["fields"]},
            "expires_in": settings.upload_expiry_s,
            "max_bytes": settings.max_upload_bytes,
        }

    @app.get("/uploads/{upload_id}")
    def upload_status(upload_id: str, request: Request) -> dict[str, Any]:
        try:
            parsed = UploadId.parse(upload_id)
        except BadUploadId:
            raise Refused(404, "no such upload") from None
        folder = parsed.folder(trigger.upload_prefix, owner_folder(jwt_subject(request)))
        listing = client.list_objects_v2(Bucket=settings.bucket, Prefix=folder, MaxKeys=2)
        keys = [item["Key"] for item in listing.get("Contents", []) if "/" not in item["Key"][len(folder) :]]
        if not keys:
            raise Refused(404, "no such upload (not uploaded yet, or not yours)")
        key = keys[0]
        output_key = rules.output_key_of(trigger.output_prefix, key[len(trigger.upload_prefix) :])
        status = states.read_status(
            read_object(client, settings.bucket, rules.progress_key(output_key)),
            object_exists(client, settings.bucket, output_key),
        )
        file_name = key.rsplit("/", 1)[1]
        answer: dict[str, Any] = {"id": str(parsed), "style": parsed.style, "file_name": file_name, **status.as_json()}
        if status.state in (states.PREVIEW, states.RUNNING):
            answer["preview_url"] = presigned_get(rules.preview_key(output_key))
        if status.state == states.DONE:
            download = f"{posixpath.splitext(file_name)[0]}-{parsed.style}.png"
            answer["result_url"] = presigned_get(
                output_key, ResponseContentDisposition=f'attachment; filename="{download}"'
            )
            answer["result_name"] = download
        return answer

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")
    return app


def describe_control(key: str, label: str, settings: WebSettings) -> dict[str, Any]:
    """One control for the page, from ``lambda_trigger.options``: its kind, its choices or range, its default."""
    control = CONTROLS[key]
    kind = WORKFLOW_INPUTS[control.input]
    entry: dict[str, Any] = {"key": key, "label": label, "help": control.help, "kind": kind}
    if kind == "choice":
        entry["choices"] = list(CHOICES[control.input])
    else:
        low, high = RANGES[control.input]
        entry["min"], entry["max"] = low, high
    if control.input == "max_dim":
        entry["max"] = entry["default"] = max_dim_ceiling(settings.trigger)
    else:
        entry["default"] = WORKFLOW_DEFAULTS[control.input]
    return entry


def upload_metadata(options: dict[str, str], settings: WebSettings) -> dict[str, str]:
    """The ``nst-`` metadata for an upload's options, checked by the trigger's own parser; refuses with one line."""
    metadata = {key.strip().lower(): value.strip() for key, value in options.items()}
    for key in metadata:
        if not key.startswith(PREFIX):
            raise Refused(400, f"unknown option {key[:40]!r}: options are nst- metadata keys")
    try:
        chosen = parse_metadata(metadata, settings.trigger).inputs
    except MetadataError as exc:
        raise Refused(400, str(exc)) from None
    output_format = chosen.get("output_format", "png8")
    if rules.OUTPUT_EXTENSIONS[output_format] != rules.OUTPUT_EXTENSION:
        raise Refused(
            400,
            f"nst-output-format={output_format}: the page shows and downloads PNG results (png8 or png16); upload "
            "to the bucket with this metadata for a TIFF or a JPEG",
        )
    if not all(value.isascii() and value.isprintable() for value in metadata.values()):
        raise Refused(400, "option values must be printable ASCII (S3 metadata)")
    size = sum(len(key) + len(value) for key, value in metadata.items())
    if size > MAX_METADATA_BYTES:
        raise Refused(400, f"the options take {size} bytes; S3 keeps at most {MAX_METADATA_BYTES}")
    return metadata


def check_key(key: str, settings: WebSettings) -> None:
    """The trigger's own decision for this key (``rules.decide``): anything but a launch is refused now, with its
    reason, rather than after the upload."""
    record = UploadRecord(settings.bucket, key, size=1, etag="new", version_id=None, sequencer=None,
                          event_name="ObjectCreated:Post")  # fmt: skip
    decision = rules.decide(record, settings.trigger)
    if isinstance(decision, rules.Skip):
        raise Refused(400, decision.reason)
    if isinstance(decision, rules.Refuse):
        raise Refused(400, decision.error)


def jwt_subject(request: Request) -> str | None:
    """The JWT subject API Gateway's authorizer verified (Mangum passes its event as ``scope["aws.event"]``)."""
    node: Any = request.scope.get("aws.event")
    for step in ("requestContext", "authorizer", "jwt", "claims", "sub"):
        node = node.get(step) if isinstance(node, dict) else None
    return node if isinstance(node, str) and node else None


#: What S3 answers for a key that is not there. 403 too: S3 says 404 only to a caller that may list the key's
#: prefix, and the API's role (deploy/template.yaml) may read the output prefix but list only styles and uploads, so
#: on AWS a record or result not written yet is AccessDenied. Every key read here is one the role may read.
MISSING_CODES = ("NoSuchKey", "404", "NotFound", "AccessDenied", "403")


def read_object(client: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None while it does not exist."""
    try:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING_CODES:
            return None
        raise
    return body


def object_exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING_CODES:
            return False
        raise
    return True


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def __getattr__(name: str) -> Any:
    """``web.api.app``: the app for this environment, made at first use (uvicorn's ``web.api:app``, Mangum's)."""
    if name == "app":
        made = create_app(WebSettings.from_env())
        globals()["app"] = made
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
