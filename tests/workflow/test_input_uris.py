"""The input policy: which URIs a run may read (s3:// in the allowed buckets, https:// to public hosts where a
deployment enables it, local paths only in a local run), refused before any connection, with one line naming the
role and the URI; an image's size read before it is downloaded; an unreachable input is one line in pyflyte run.

No test sends traffic to an address other than loopback: the refused addresses are only ever strings.
"""

from __future__ import annotations

import datetime
import functools
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flytekit.core.context_manager import ExecutionState, FlyteContextManager
from flytekit.exceptions.user import FlyteRecoverableException
from PIL import Image

from tests.conftest import free_port
from tests.workflow.cli import pyflyte_run
from workflows.images import ImageInputError
from workflows.input_files import InputPolicy, InputUnreachable, address_kind, check_source, download_https, fetch
from workflows.neural_style_transfer import neural_style_transfer_wf

TINY = {"epochs": 1, "steps_per_epoch": 1, "max_dim": 48}
EVERYTHING = InputPolicy(allowed_buckets=("nst-inputs",), allow_https=True, local_paths=True)


@pytest.fixture
def photos(write_image) -> tuple[Path, Path]:
    return write_image("photo.jpg", 96, 72, quality=95), write_image("style.png", 64, 64, style=True)


class Recorded(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records every request (method, path) on its server, so a test can assert none came."""

    def log_message(self, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        self.server.requests.append((self.command, self.path))  # type: ignore[attr-defined]
        return super().send_head()


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[tuple[str, http.server.ThreadingHTTPServer]]:
    """A plain HTTP file server on loopback, serving a real photo: any request to it would be recorded."""
    root = tmp_path / "www"
    root.mkdir()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(root / "photo.png")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Recorded, directory=str(root)))
    server.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------------- the policy


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://127.0.0.1:8080/photo.png", "http:// is not allowed (inputs are s3:// URIs, https:// where"),
        ("http://169.254.169.254/latest/meta-data/", "http:// is not allowed"),
        ("file:///etc/passwd", "file:// is not allowed"),
        ("gs://bucket/photo.png", "gs:// is not allowed"),
        ("://photo.png", "a URI without a scheme is not allowed"),
        ("https://169.254.169.254/latest/meta-data/", "host 169.254.169.254 is at 169.254.169.254, a link-local"),
        ("https://10.1.2.3/photo.png", "host 10.1.2.3 is at 10.1.2.3, a private address"),
        ("https://127.0.0.1:8443/photo.png", "a loopback address; only public hosts are fetched"),
        ("https://localhost/photo.png", "host localhost is at 127.0.0.1, a loopback address"),
        ("https://[::ffff:169.254.169.254]/photo.png", "a link-local address"),
        ("https://[fd00::1]/photo.png", "a private address"),
        ("https://0.0.0.0/photo.png", "address; only public hosts are fetched"),
        ("https:///photo.png", "names no host"),
        ("s3://someone-else/photo.png", "bucket 'someone-else' is not in NST_ALLOWED_BUCKETS (nst-inputs)"),
    ],
)
def test_a_uri_outside_the_policy_is_refused_in_one_line_naming_the_role(uri: str, reason: str) -> None:
    with pytest.raises(ImageInputError) as refused:
        check_source(uri, "init", EVERYTHING)
    message = str(refused.value)
    assert message.startswith(f"init image {uri}: ") and reason in message and "\n" not in message


def test_what_the_policy_allows() -> None:
    assert check_source("s3://nst-inputs/uploads/a.jpg", "content", EVERYTHING) is None
    assert check_source("s3://any-bucket/a.jpg", "content", InputPolicy()) is None, "no list: the role's buckets"
    assert check_source("/tmp/photo.jpg", "content", EVERYTHING) is None
    # a public address, as an IP literal: resolved without any lookup, and nothing is sent to it
    assert check_source("https://93.184.215.14/photo.jpg", "style", EVERYTHING) == "93.184.215.14"


def test_https_is_off_unless_the_deployment_enables_it() -> None:
    with pytest.raises(
        ImageInputError, match="https:// inputs are off; a deployment allows them with NST_ALLOW_HTTPS=1"
    ):
        check_source("https://93.184.215.14/photo.jpg", "style", InputPolicy())


def test_local_paths_are_read_only_in_a_local_run(photos) -> None:
    """A task on a cluster (Flyte's TASK_EXECUTION) must not read its pod's files; pyflyte run reads the user's."""
    content, _ = photos
    with pytest.raises(ImageInputError, match="a local path is read only in a local run"):
        check_source(str(content), "content", InputPolicy(local_paths=False))
    context = FlyteContextManager.current_context()
    for mode, allowed in (
        (ExecutionState.Mode.TASK_EXECUTION, False),
        (ExecutionState.Mode.LOCAL_TASK_EXECUTION, True),
    ):
        state = context.execution_state.with_params(mode=mode)
        with FlyteContextManager.with_context(context.with_execution_state(state)):
            assert InputPolicy.from_env().local_paths is allowed
            if not allowed:
                with pytest.raises(ImageInputError, match=r"^content image .*photo.jpg: a local path is read only"):
                    fetch(str(content), "content")


def test_the_settings_come_from_the_task_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NST_ALLOWED_BUCKETS", " nst-inputs , nst-shared ")
    monkeypatch.setenv("NST_ALLOW_HTTPS", "1")
    policy = InputPolicy.from_env()
    assert policy.allowed_buckets == ("nst-inputs", "nst-shared") and policy.allow_https
    monkeypatch.setenv("NST_ALLOW_HTTPS", "yes please")
    assert not InputPolicy.from_env().allow_https, "only 1 enables it"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT: neither private nor global
        ("224.0.0.1", "multicast"),
        ("::ffff:10.0.0.1", "private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(address) == kind


# --------------------------------------------------------------------------------------------------- the workflow


def test_a_loopback_web_server_is_refused_and_never_asked(photos, web_server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over http:// and, with https enabled, over https:// to its loopback address: not one request reaches it."""
    _, style = photos
    where, server = web_server
    monkeypatch.setenv("NST_ALLOW_HTTPS", "1")
    for uri, reason in (
        (f"http://{where}/photo.png", "http:// is not allowed"),
        (f"https://{where}/photo.png", "a loopback address"),
    ):
        with pytest.raises(ImageInputError, match=rf"^content image {uri}: .*{reason}"):
            neural_style_transfer_wf(content_img=uri, style_img=str(style), **TINY)
    assert server.requests == []


@pytest.mark.parametrize(
    ("init_image", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http:// is not allowed"),
        ("https://10.20.30.40/start.png", "a private address"),
        ("file:///etc/hostname", "file:// is not allowed"),
    ],
)
def test_an_init_image_outside_the_policy_fails_the_run_before_any_download(
    photos, init_image: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style = photos
    monkeypatch.setenv("NST_ALLOW_HTTPS", "1")
    with pytest.raises(ImageInputError, match=rf"^init image {init_image}: .*{reason}"):
        neural_style_transfer_wf(content_img=str(content), style_img=str(style), init_image=init_image, **TINY)


def test_s3_inputs_within_the_allowed_buckets(photos, flyte_s3, monkeypatch: pytest.MonkeyPatch) -> None:
    content, style = photos
    s3 = flyte_s3.client()
    for bucket in ("nst-inputs", "nst-elsewhere"):
        s3.create_bucket(Bucket=bucket)
        s3.upload_file(str(style), bucket, "styles/stripes.png")
    s3.upload_file(str(content), "nst-inputs", "uploads/photo.jpg")
    monkeypatch.setenv("NST_ALLOWED_BUCKETS", "nst-inputs")
    photo = "s3://nst-inputs/uploads/photo.jpg"
    result = neural_style_transfer_wf(content_img=photo, style_img="s3://nst-inputs/styles/stripes.png", **TINY)
    with Image.open(result.path) as image:
        assert image.size == (48, 36)
    other = "s3://nst-elsewhere/styles/stripes.png"
    with pytest.raises(ImageInputError, match=rf"^style image {other}: bucket 'nst-elsewhere' is not in NST_ALLOWED"):
        neural_style_transfer_wf(content_img=photo, style_img=other, **TINY)


def test_an_s3_image_above_the_limit_is_refused_from_its_size_without_a_download(flyte_s3) -> None:
    """Stored in GLACIER, the object answers HeadObject but not GetObject: a download would fail differently."""
    s3 = flyte_s3.client()
    s3.create_bucket(Bucket="nst-archive")
    s3.put_object(Bucket="nst-archive", Key="big.png", Body=b"x" * 5000, StorageClass="GLACIER")
    uri = "s3://nst-archive/big.png"
    with pytest.raises(
        ImageInputError, match=rf"^init image {uri}: 5,000 bytes, above the limit of 4,999; not downloaded$"
    ):
        fetch(uri, "init", max_bytes=4999)
    with pytest.raises(InputUnreachable, match=rf"^init image {uri}: download failed"):
        fetch(uri, "init", max_bytes=5000)  # within the limit: the download is tried, and GLACIER refuses it


def test_an_unreachable_input_is_retried_on_a_cluster_and_one_line_in_pyflyte_run(
    photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a fresh process (this one's S3 file system may be cached with another test's endpoint)."""
    assert issubclass(InputUnreachable, FlyteRecoverableException), "a pod's attempt is retried"
    _, style = photos
    monkeypatch.setenv("FLYTE_AWS_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("FLYTE_AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("FLYTE_AWS_SECRET_ACCESS_KEY", "testing")
    uri = "s3://nst-inputs/uploads/photo.jpg"
    result = pyflyte_run("neural_style_transfer_wf", "--content_img", uri, "--style_img", str(style))
    printed = result.stdout + result.stderr
    assert result.returncode != 0 and f"content image {uri}: cannot be reached, will retry" in printed
    assert "Traceback" not in printed and 'File "' not in printed, printed[-1500:]


# --------------------------------------------------------------------------------------------------- https


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost``: (certificate, key) files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


PHOTO = b"\x89PNG not really, but bytes" * 40  # 1,040 bytes: the downloader does not decode


class Scripted(http.server.BaseHTTPRequestHandler):
    """``/photo.png`` (its length told), ``/big.png`` (10,000 bytes told by HEAD), ``/untold.png`` (5,000 bytes,
    no length: the connection's end marks the body's), ``/moved.png`` (a redirect to the metadata address),
    ``/gone.png`` (404); every request is recorded."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.answer(body=False)

    def do_GET(self) -> None:
        self.answer(body=True)

    def answer(self, body: bool) -> None:
        self.server.requests.append((self.command, self.path))  # type: ignore[attr-defined]
        if self.path == "/moved.png":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/gone.png":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/untold.png":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            if body:
                self.wfile.write(b"y" * 5000)
            self.close_connection = True
        else:
            size = 10_000 if self.path == "/big.png" else len(PHOTO)
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if body:
                self.wfile.write(PHOTO if size == len(PHOTO) else b"z" * size)


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[int, http.server.ThreadingHTTPServer, ssl.SSLContext]]:
    """An HTTPS server on loopback with the test certificate, and a client context that trusts only it."""
    cert_file, key_file = certificate
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    server.requests = []  # type: ignore[attr-defined]
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(cert_file, key_file)
    server.socket = serving.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], server, ssl.create_default_context(cafile=str(cert_file))
    finally:
        server.shutdown()
        server.server_close()


def download(port: int, context: ssl.SSLContext, name: str, max_bytes: int = 2000) -> str:
    """The downloader below the policy (which refuses loopback), to the checked address 127.0.0.1."""
    return download_https(f"https://localhost:{port}/{name}", "127.0.0.1", "init", max_bytes, context)


def test_https_download_checks_the_certificate_and_reads_the_body(tls_server) -> None:
    port, server, context = tls_server
    assert Path(download(port, context, "photo.png")).read_bytes() == PHOTO
    with pytest.raises(InputUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        download(port, ssl.create_default_context(), "photo.png")  # the system's trust store does not know it


def test_https_size_is_read_before_the_download(tls_server) -> None:
    port, server, context = tls_server
    uri = f"https://localhost:{port}/big.png"
    with pytest.raises(ImageInputError, match=rf"^init image {uri}: 10,000 bytes, above the limit of 2,000; not down"):
        download(port, context, "big.png")
    assert server.requests == [("HEAD", "/big.png")], "no GET"


def test_https_body_is_cut_off_at_the_limit_whatever_the_headers_said(tls_server) -> None:
    port, server, context = tls_server
    with pytest.raises(ImageInputError, match="more than 2,000 bytes, the limit; not read further"):
        download(port, context, "untold.png")


def test_https_redirects_are_refused_not_followed(tls_server) -> None:
    port, server, context = tls_server
    with pytest.raises(ImageInputError, match=r"the server redirects \(302\); give the image's own URL"):
        download(port, context, "moved.png")
    assert server.requests == [("HEAD", "/moved.png")]
    with pytest.raises(ImageInputError, match=rf"^init image https://localhost:{port}/gone.png: not found$"):
        download(port, context, "gone.png")


def test_https_to_a_closed_port_is_retried() -> None:
    uri = f"https://localhost:{free_port()}/photo.png"
    with pytest.raises(InputUnreachable, match=rf"^init image {uri}: cannot be reached, will retry"):
        download_https(uri, "127.0.0.1", "init", 2000, ssl.create_default_context())
