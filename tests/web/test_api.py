"""The web API over real HTTP (uvicorn on loopback) against moto's S3 server, with real presigned POSTs.

What moto 5.2.5's server checks of a POST upload, read in its source (``moto/s3/responses.py``,
``_bucket_response_post``): nothing of the policy. It stores the file under the form's ``key`` with the form's
``x-amz-meta-*`` fields, and fires the ObjectCreated:Post event, but it verifies no signature, no expiry, no
``content-length-range``, no ``Content-Type`` condition and no exact-match condition. So these tests upload for
real to see the object, its metadata and its event, and check what S3 would enforce in the policy document the
API signed (decoded from its answer), and that the signature covers that document, never by uploading a larger
file and pretending moto refused it.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_trigger import rules
from lambda_trigger.events import UploadRecord
from lambda_trigger.options import CONTROLS, MAX_DIM_RANGE, parse_metadata
from tests.web.conftest import BUCKET, STYLES, TEST_MAX_BYTES, Api
from web import api as web_api
from web import settings as web_settings
from web import status
from web.uploads import TOKEN_CHARS, UploadId, safe_file_name

PHOTO = b"\xff\xd8\xff\xe0 a photo's bytes"


def post_file(upload: dict[str, Any], body: bytes, content_type: str = "image/jpeg") -> httpx.Response:
    """What the page does: a multipart POST of the answer's fields, then the file, to the answer's URL."""
    fields = {**upload["fields"], "Content-Type": content_type}
    return httpx.post(upload["url"], data=fields, files={"file": ("photo.jpg", body, content_type)}, timeout=10)


def policy_of(answer: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(answer["upload"]["fields"]["policy"]))


# --------------------------------------------------------------------------------------------------- one source


def test_restated_values_are_the_workflows() -> None:
    """The web package ships without workflows/: these copies are kept honest here."""
    from workflows import images
    from workflows.engine.options import StyleOptions

    assert web_settings.MAX_DECODE_BYTES == images.MAX_DECODE_BYTES
    defaults = StyleOptions()
    assert {name: getattr(defaults, name) for name in web_api.WORKFLOW_DEFAULTS} == web_api.WORKFLOW_DEFAULTS
    assert set(web_api.PAGE_CONTROLS) <= set(CONTROLS)


def test_the_options_are_the_triggers_table(api: Api) -> None:
    answer = api.http.get("/options").json()
    controls = {control["key"]: control for control in answer["controls"]}
    assert list(controls) == list(web_api.PAGE_CONTROLS)
    assert controls["nst-mode"]["choices"] == ["full", "preview"] and controls["nst-mode"]["default"] == "full"
    assert controls["nst-style-scale"] | {"help": ""} == {
        "key": "nst-style-scale", "label": "Style scale", "help": "", "kind": "float", "min": 0.25, "max": 4.0,
        "default": 1.0,
    }  # fmt: skip
    # the deployment's NST_MAX_DIM (256 here) is both the ceiling and the default
    assert (controls["nst-max-dim"]["min"], controls["nst-max-dim"]["max"]) == (MAX_DIM_RANGE[0], 256)
    assert controls["nst-max-dim"]["default"] == 256
    assert answer["max_upload_bytes"] == TEST_MAX_BYTES
    # every default is a value the trigger's parser accepts
    for control in controls.values():
        parse_metadata({control["key"]: str(control["default"])}, api.settings.trigger)


# --------------------------------------------------------------------------------------------------- styles


def test_styles_are_the_ones_the_trigger_resolves_with_working_thumbnails(serve, s3_server) -> None:
    api = serve()
    s3 = api.s3
    extra = {
        "styles/monet.png": b"a second monet: .jpg wins, as the trigger looks .jpg up first",
        "styles/starry night.jpg": b"a name a folder cannot carry in an id",
        "styles/sub/deep.jpg": b"not a style: one folder down",
        "styles/notes.txt": b"not a style extension",
    }
    for key, body in extra.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    try:
        answer = api.http.get("/styles").json()
    finally:
        for key in extra:
            s3.delete_object(Bucket=BUCKET, Key=key)
    assert [style["name"] for style in answer["styles"]] == ["hokusai", "monet"]
    assert answer["default"] == "monet"  # NST_STYLE_URI's
    for style in answer["styles"]:
        thumbnail = httpx.get(style["thumbnail_url"], timeout=10)
        assert thumbnail.status_code == 200 and thumbnail.content == STYLES[style["name"]]
        expires = parse_qs(urlsplit(style["thumbnail_url"]).query)["X-Amz-Expires"]
        assert expires == [str(api.settings.url_expiry_s)]


# --------------------------------------------------------------------------------------------------- upload


def test_a_presigned_post_uploads_the_photo_with_its_options_to_the_key_the_server_chose(api: Api) -> None:
    options = {"nst-style-strength": "2.5", "nst-preserve-colors": "luminance", "nst-max-dim": "64"}
    answer = api.create(style="hokusai", options=options, size=len(PHOTO))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["key"] == f"uploads/hokusai/{created['id'].split('.')[0]}/photo.jpg"
    assert created["status_url"] == f"/uploads/{created['id']}"
    assert api.http.get(created["status_url"]).status_code == 404, "nothing uploaded yet"

    uploaded = post_file(created["upload"], PHOTO)
    assert uploaded.status_code == 204, uploaded.text
    head = api.s3.head_object(Bucket=BUCKET, Key=created["key"])
    assert head["Metadata"] == options
    assert api.s3.get_object(Bucket=BUCKET, Key=created["key"])["Body"].read() == PHOTO
    # what the trigger will read from it: these options, the style from the folder
    assert parse_metadata(head["Metadata"], api.settings.trigger).inputs == {
        "style_strength": 2.5, "preserve_colors": "luminance", "max_dim": 64,
    }  # fmt: skip
    record = UploadRecord(BUCKET, created["key"], len(PHOTO), "e", None, "1", "ObjectCreated:Post")
    assert rules.decide(record, api.settings.trigger) == rules.Launch(
        "hokusai", f"stylized/hokusai/{created['id'].split('.')[0]}/photo.jpg.png"
    )
    assert api.http.get(created["status_url"]).json()["state"] == "queued"


def test_the_policy_fixes_the_key_the_size_the_type_and_every_option_and_expires_in_minutes(api: Api) -> None:
    """What S3 enforces when it applies the policy (moto does not: module docstring), checked in the signed
    document itself."""
    before = datetime.datetime.now(datetime.UTC)
    created = api.create(style="monet", options={"nst-mode": "preview"}).json()
    fields = created["upload"]["fields"]
    policy = policy_of(created)
    expires = datetime.datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert datetime.timedelta(seconds=api.settings.upload_expiry_s - 5) <= expires - before
    assert expires - before <= datetime.timedelta(seconds=api.settings.upload_expiry_s + 5)
    assert api.settings.upload_expiry_s <= 600, "minutes, not hours"
    conditions = policy["conditions"]
    assert {"bucket": BUCKET} in conditions
    assert {"key": created["key"]} in conditions, "exact: no starts-with, so no other key"
    assert ["content-length-range", 1, TEST_MAX_BYTES] in conditions
    assert ["starts-with", "$Content-Type", "image/"] in conditions
    assert {"x-amz-meta-nst-mode": "preview"} in conditions
    # every field the page sends is covered by a condition (S3 refuses a form with an uncovered field)
    covered = {name.lower() for condition in conditions if isinstance(condition, dict) for name in condition}
    covered |= {c[1].lstrip("$").lower() for c in conditions if isinstance(c, list) and c[0] in ("eq", "starts-with")}
    signature_fields = {"policy", "x-amz-signature", "x-amz-algorithm", "x-amz-credential", "x-amz-date"}
    assert {name.lower() for name in fields} - signature_fields <= covered | {"key"}
    # and the document is the one signed (SigV4 over the base64 policy with the credentials' key): changing a
    # condition (a bigger size, another key) invalidates the signature, so the client cannot
    secret, (access, date, region, service, _) = "testing", fields["x-amz-credential"].split("/")
    assert access == "testing"
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest() == fields["x-amz-signature"]


def test_presigned_gets_expire_in_minutes(api: Api) -> None:
    for style in api.http.get("/styles").json()["styles"]:
        assert int(parse_qs(urlsplit(style["thumbnail_url"]).query)["X-Amz-Expires"][0]) <= 600


@pytest.mark.parametrize(
    ("body", "code", "line"),
    [
        ({"content_type": "text/plain"}, 415, "not an image: the file's type is 'text/plain'"),
        ({"content_type": ""}, 415, "not an image: no type"),
        ({"style": "picasso"}, 400, "unknown style 'picasso': the styles are hokusai, monet"),
        ({"style": "../monet"}, 400, "unknown style '../monet': the styles are hokusai, monet"),
        ({"size": TEST_MAX_BYTES + 1}, 413, "too large: 0.1 MB; the limit is 0.1 MB"),
        ({"size": 0}, 400, "the file is empty"),
        (
            {"options": {"nst-style-scale": "9"}},
            400,
            "metadata nst-style-scale='9': must be between 0.25 and 4 (x-amz-meta-nst-style-scale)",
        ),
        (
            {"options": {"nst-max-dim": "512"}},
            400,
            "metadata nst-max-dim='512': must be a whole number of pixels from 32 to 256 (NST_MAX_DIM) "
            "(x-amz-meta-nst-max-dim)",
        ),
        ({"options": {"colour": "red"}}, 400, "unknown option 'colour': options are nst- metadata keys"),
        (
            {"file_name": "notes.txt"},
            400,
            "not an image ('.txt'; accepted: .jpg .jpeg .png .webp .bmp .tif .tiff .gif)",
        ),
        ({"key": "uploads/mine.jpg"}, 400, "bad request: key: Extra inputs are not permitted"),
    ],
)
def test_a_refusal_is_one_plain_line(api: Api, body: dict[str, Any], code: int, line: str) -> None:
    answer = api.create(**body)
    assert (answer.status_code, answer.json()) == (code, {"detail": line})


def test_too_long_a_name_is_refused_by_the_triggers_own_rule(api: Api) -> None:
    answer = api.create(file_name="a" * 1000 + ".jpg")
    assert answer.status_code == 400
    assert re.fullmatch(
        r"side file '\.[a-z.]+' key would be 1,\d{3} bytes under 'stylized/'; .*", answer.json()["detail"]
    )
    assert api.create(file_name="a" * 900 + ".jpg").status_code == 201


def test_a_result_format_the_page_cannot_show_is_refused_and_png16_is_taken(api: Api) -> None:
    """The page polls and downloads ``<upload>.png``: a TIFF or JPEG result would land beside it, unseen."""
    for output_format in ("tiff16", "jpeg"):
        answer = api.create(options={"nst-output-format": output_format})
        assert answer.status_code == 400
        assert answer.json()["detail"].startswith(f"nst-output-format={output_format}: the page shows and downloads")
    assert api.create(options={"nst-output-format": "png16", "nst-keep-gps": "true"}).status_code == 201


def test_options_bigger_than_s3_keeps_are_refused(api: Api) -> None:
    styles = ",".join(f"{'s' * 260}{index}" for index in range(8))
    answer = api.create(options={"nst-styles": styles, "nst-seed": "1"})
    assert answer.status_code == 400 and answer.json()["detail"].endswith("S3 keeps at most 2048")


# --------------------------------------------------------------------------------------------------- keys

NAMES = st.one_of(
    st.text(min_size=1, max_size=60),
    st.from_regex(r"(\.\./|/|C:\\fakepath\\|uploads/)?[A-Za-zé .+%~-]{0,20}\.(jpg|PNG|webp)", fullmatch=True),
)


#: Every key and token answered across the property test's examples: none may come twice.
SEEN_KEYS: set[str] = set()
SEEN_TOKENS: set[str] = set()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(st.tuples(NAMES, st.sampled_from(sorted(STYLES))), min_size=1, max_size=4))
def test_keys_are_chosen_by_the_server_and_never_collide(api: Api, requests: list[tuple[str, str]]) -> None:
    """Whatever name a client sends, the key is ``uploads/<style>/<128-bit token>/<safe name>``: the client
    picks neither the folder nor the id, a name cannot climb out of its folder, and no two answers share a key."""
    for file_name, style in requests:
        answer = api.create(file_name=file_name, style=style)
        if answer.status_code != 201:  # refused names: not an image extension, or nothing left of them
            assert answer.status_code == 400 and "\n" not in answer.json()["detail"]
            continue
        created = answer.json()
        key, upload_id = created["key"], UploadId.parse(created["id"])
        assert upload_id.style == style and len(upload_id.token) == TOKEN_CHARS
        assert key == f"uploads/{style}/{upload_id.token}/{safe_file_name(file_name)}"
        name = key.rsplit("/", 1)[1]
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.[a-z]+", name) and ".." not in name
        assert key not in SEEN_KEYS and upload_id.token not in SEEN_TOKENS
        SEEN_KEYS.add(key)
        SEEN_TOKENS.add(upload_id.token)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("0..0.jpg", "0.0.jpg"),  # the example hypothesis found: a name must hold no '..' at all
        ("a...b..c.JPG", "a.b.c.jpg"),
        ("..hidden.png", "hidden.png"),
        ("C:\\fakepath\\été..x.png", "ete.x.png"),
    ],
)
def test_a_name_keeps_no_run_of_dots(sent: str, kept: str) -> None:
    assert safe_file_name(sent) == kept


def test_tokens_carry_128_random_bits() -> None:
    tokens = {UploadId.new("monet").token for _ in range(2000)}
    assert len(tokens) == 2000
    decoded = {base64.urlsafe_b64decode(token + "==") for token in tokens}
    assert {len(raw) for raw in decoded} == {16}
    # every bit position takes both values across the sample: nothing fixed, nothing derived from a counter
    ones = [sum((int.from_bytes(raw, "big") >> bit) & 1 for raw in decoded) for bit in range(128)]
    assert all(0 < count < len(decoded) for count in ones)


# --------------------------------------------------------------------------------------------------- status


@pytest.mark.parametrize(
    "upload_id",
    ["x", "../../styles/monet.jpg", "AAAAAAAAAAAAAAAAAAAAAA./monet", "AAAAAAAAAAAAAAAAAAAAAA..", "%2e%2e%2fmonet",
     "AAAAAAAAAAAAAAAAAAAAAA.monet/..", "AAAAAAAAAAAAAAAAAAAAAAA.monet"],
)  # fmt: skip
def test_an_id_that_is_not_one_names_nothing(api: Api, upload_id: str) -> None:
    answer = api.http.get(f"/uploads/{upload_id}")
    assert answer.status_code == 404


def test_an_unknown_id_is_404(api: Api) -> None:
    answer = api.http.get(f"/uploads/{UploadId.new('monet')}")
    assert (answer.status_code, answer.json()) == (404, {"detail": "no such upload (not uploaded yet, or not yours)"})


@pytest.fixture
def uploaded(api: Api) -> dict[str, Any]:
    created = api.create(style="monet", file_name="Beach day.JPG", content_type="image/jpeg").json()
    assert post_file(created["upload"], PHOTO).status_code == 204
    output = rules.output_key_of("stylized/", created["key"][len("uploads/") :])
    return {**created, "output": output}


def put(api: Api, key: str, body: bytes) -> None:
    api.s3.put_object(Bucket=BUCKET, Key=key, Body=body)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"state": "queued", "execution": "nst-abc"}, {"state": "queued", "final": False}),
        ({"state": "preview", "seconds": 0.7}, {"state": "preview", "final": False, "seconds": 0.7}),
        (
            {"state": "running", "epoch": 1, "epochs": 2, "steps": 3, "loss": 12.5, "seconds": 4, "weights": "x"},
            {"state": "running", "final": False, "epoch": 1, "epochs": 2, "steps": 3, "loss": 12.5, "seconds": 4},
        ),
        ({"state": "done", "epoch": 2, "epochs": 2}, {"state": "running", "final": False, "epoch": 2, "epochs": 2}),
        ({"state": "skipped", "reason": "zero-byte object"}, {"state": "skipped", "final": True, "reason": "zero-byte object"}),
        ({"state": "refused", "reason": "style 'x'\nnot found"}, {"state": "refused", "final": True, "reason": "style 'x' not found"}),
        ({"state": "failed", "reason": "S3 down", "retrying": True}, {"state": "failed", "final": False, "reason": "S3 down", "retrying": True}),
        ({"state": "failed"}, {"state": "failed", "final": True, "reason": "no reason given"}),
        # records of before the state field
        ({"stage": "preview", "seconds": 0.5}, {"state": "preview", "final": False, "seconds": 0.5}),
        ({"epoch": 1, "epochs": 3, "steps": 2, "loss": None, "done": False}, {"state": "running", "final": False, "epoch": 1, "epochs": 3, "steps": 2}),
        # anything else: unknown, never a 500
        ({"state": "paused"}, {"state": "unknown", "final": False, "reason": "the status record's state 'paused' is not one this page knows"}),
        ({"state": "running", "epoch": True, "loss": "big", "steps": 2.5}, {"state": "running", "final": False}),
        ({"state": ["running"]}, {"state": "unknown", "final": False, "reason": "the status record's state \"['running']\" is not one this page knows"}),
    ],
)  # fmt: skip
def test_the_state_is_read_from_the_status_record(api: Api, uploaded, record, expected) -> None:
    put(api, uploaded["output"] + ".progress.json", json.dumps(record).encode())
    put(api, uploaded["output"] + ".preview.png", b"the picture so far")
    answer = api.http.get(uploaded["status_url"])
    assert answer.status_code == 200
    shown = answer.json()
    assert shown["file_name"] == "Beach-day.jpg" and shown["style"] == "monet"
    assert {
        key: value for key, value in shown.items() if key not in ("id", "style", "file_name", "preview_url")
    } == expected
    if expected["state"] in ("preview", "running"):
        assert httpx.get(shown["preview_url"], timeout=10).content == b"the picture so far"
    else:
        assert "preview_url" not in shown


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"done"', b'{"state": "running", "loss": NaN, "seconds": Infinity}'],
)
def test_a_malformed_record_is_an_unknown_state_or_its_valid_part_never_a_500(api: Api, uploaded, body) -> None:
    put(api, uploaded["output"] + ".progress.json", body)
    answer = api.http.get(uploaded["status_url"])
    assert answer.status_code == 200
    assert answer.json()["state"] in ("unknown", "running")
    assert "loss" not in answer.json() and "seconds" not in answer.json()


def test_done_when_the_result_is_there_with_a_download_url(api: Api, uploaded) -> None:
    put(api, uploaded["output"] + ".progress.json", json.dumps({"state": "done", "steps": 3, "seconds": 2}).encode())
    put(api, uploaded["output"], b"\x89PNG the result")
    shown = api.http.get(uploaded["status_url"]).json()
    assert (shown["state"], shown["final"], shown["result_name"]) == ("done", True, "Beach-day-monet.png")
    result = httpx.get(shown["result_url"], timeout=10)
    assert result.content == b"\x89PNG the result"
    assert result.headers["content-disposition"] == 'attachment; filename="Beach-day-monet.png"'
    # a preview-only run of before the state field: the result's presence says done
    put(api, uploaded["output"] + ".progress.json", json.dumps({"stage": "preview"}).encode())
    assert api.http.get(uploaded["status_url"]).json()["state"] == "done"


# --------------------------------------------------------------------------------------------------- the rest


def test_config_and_the_page_are_served(api: Api) -> None:
    assert api.http.get("/config.json").json() == {"apiBase": ""}
    page = api.http.get("/")
    assert page.status_code == 200 and '<script src="app.js"' in page.text
    assert api.http.get("/app.js").status_code == 200


def test_cors_allows_only_the_pages_origin(serve) -> None:
    api = serve(origin="https://photos.example.com")
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = api.http.options("/uploads", headers={"Origin": "https://photos.example.com", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://photos.example.com"
    other = api.http.options("/uploads", headers={"Origin": "https://evil.example", **preflight})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert (
        "access-control-allow-origin" not in api.http.get("/styles", headers={"Origin": "https://evil.example"}).headers
    )


# --------------------------------------------------------------------------------------------------- Lambda + JWT


def http_api_event(method: str, path: str, body: dict[str, Any] | None = None, subject: str | None = None):
    """An API Gateway HTTP API (payload 2.0) event, as Lambda hands it to Mangum; ``subject``: a JWT authorizer's."""
    context: dict[str, Any] = {
        "http": {"method": method, "path": path, "sourceIp": "192.0.2.1", "protocol": "HTTP/1.1", "userAgent": "t"},
        "requestId": "r", "stage": "$default", "domainName": "api.example.com", "accountId": "1", "apiId": "a",
    }  # fmt: skip
    if subject is not None:
        context["authorizer"] = {"jwt": {"claims": {"sub": subject}, "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": context,
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


class Context:
    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "web", 512, "arn:aws:lambda:x", "r"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def test_with_a_jwt_each_user_has_a_folder_and_another_users_id_is_404(api: Api, s3_server) -> None:
    from mangum import Mangum

    handler = Mangum(web_api.create_app(api.settings, api.settings.s3_client(s3_server.endpoint)), lifespan="off")

    def call(method: str, path: str, body: dict[str, Any] | None = None, subject: str | None = None):
        answer = handler(http_api_event(method, path, body, subject), Context())
        return answer["statusCode"], json.loads(answer["body"])

    code, created = call("POST", "/uploads", {"file_name": "a.jpg", "content_type": "image/png"}, subject="alice")
    assert code == 201, created
    alice = hashlib.sha256(b"alice").hexdigest()[:32]
    token = created["id"].split(".")[0]
    assert created["key"] == f"uploads/monet/u-{alice}/{token}/a.jpg"
    assert post_file(created["upload"], PHOTO, "image/png").status_code == 204
    assert call("GET", created["status_url"], subject="alice") == (
        200, {"id": created["id"], "style": "monet", "file_name": "a.jpg", "state": "queued", "final": False},
    )  # fmt: skip
    assert call("GET", created["status_url"], subject="bob")[0] == 404
    assert call("GET", created["status_url"])[0] == 404, "nor without a token"


def test_the_lambda_entry_point_is_the_app_from_the_environment(monkeypatch, s3_server) -> None:
    import importlib
    import sys

    for name, value in {
        "NST_ALLOWED_BUCKETS": BUCKET, "NST_MAX_DIM": "128", "AWS_ENDPOINT_URL": s3_server.endpoint,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    for module in ("web.lambda_function",):
        sys.modules.pop(module, None)
    monkeypatch.delitem(web_api.__dict__, "app", raising=False)
    entry = importlib.import_module("web.lambda_function")
    try:
        answer = entry.lambda_handler(http_api_event("GET", "/options"), Context())
        assert answer["statusCode"] == 200
        controls = {control["key"]: control for control in json.loads(answer["body"])["controls"]}
        assert controls["nst-max-dim"]["max"] == 128
    finally:
        sys.modules.pop("web.lambda_function", None)
        web_api.__dict__.pop("app", None)


def test_the_states_are_the_records_and_unknown() -> None:
    """The web package ships without workflows/: its copy of the record's states is compared here."""
    from workflows.engine.progress_view import STATES as RECORD_STATES

    assert set(status.STATES) == set(RECORD_STATES) | {status.UNKNOWN}
    assert set(status.FINAL) == {"done", "skipped", "refused", "failed"}


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("AccessDenied", 403)])
def test_a_record_not_written_yet_reads_as_missing_whichever_way_s3_says_so(code: str, status: int) -> None:
    """On AWS the API's role may read the output prefix but not list it, so S3 answers 403, not 404, for a record or
    result that does not exist yet: both are "not there", never a 503. (botocore's Stubber: no IAM runs here.)"""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        stub.add_client_error("head_object", service_error_code=str(status), http_status_code=status)
        assert web_api.read_object(client, "b", "stylized/x.jpg.png.progress.json") is None
        assert web_api.object_exists(client, "b", "stylized/x.jpg.png") is False
