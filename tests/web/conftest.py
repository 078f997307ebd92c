"""The web API on real uvicorn over loopback, against moto's S3 server (tests/conftest.py's ``s3_server``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from lambda_trigger.settings import Settings
from tests.conftest import S3Server, free_port
from web.api import create_app
from web.settings import WebSettings

BUCKET = "nst-web"
STYLES = {"monet": b"monet's thumbnail", "hokusai": b"hokusai's thumbnail"}
#: Small enough that a "larger file" is a few bytes more, not a gigabyte.
TEST_MAX_BYTES = 50_000


@dataclass
class Api:
    """A running API: its base URL, an HTTP client on it, its settings, and S3 (moto) as a test sees it."""

    base: str
    http: httpx.Client
    settings: WebSettings
    s3: Any

    def create(self, **body: Any) -> httpx.Response:
        return self.http.post("/uploads", json={"file_name": "photo.jpg", "content_type": "image/jpeg", **body})


class ServerThread:
    """uvicorn serving an ASGI app on a loopback port, in a thread of this process; stopped on exit."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def web_settings(**changes: Any) -> WebSettings:
    trigger = Settings(allowed_buckets=(BUCKET,), style_uri=f"s3://{BUCKET}/styles/monet.jpg", max_dim=256)
    return WebSettings(**{"trigger": trigger, "bucket": BUCKET, "max_upload_bytes": TEST_MAX_BYTES, **changes})


@pytest.fixture(scope="session")
def styled_bucket(s3_server: S3Server) -> Any:
    s3 = s3_server.client()
    s3.create_bucket(Bucket=BUCKET)
    for name, body in STYLES.items():
        s3.put_object(Bucket=BUCKET, Key=f"styles/{name}.jpg", Body=body)
    return s3


@pytest.fixture(scope="session")
def serve(s3_server: S3Server, styled_bucket: Any) -> Iterator[Callable[..., Api]]:
    """``serve(**settings changes)``: an API on its own port, kept for the session (one per distinct settings)."""
    running: dict[str, Api] = {}
    stops: list[ServerThread] = []

    def start(**changes: Any) -> Api:
        name = repr(sorted(changes.items()))
        if name not in running:
            settings = web_settings(**changes)
            server = ServerThread(create_app(settings, settings.s3_client(s3_server.endpoint)))
            base = server.__enter__()
            stops.append(server)
            running[name] = Api(base, httpx.Client(base_url=base, timeout=10), settings, styled_bucket)
        return running[name]

    yield start
    for api in running.values():
        api.http.close()
    for server in stops:
        server.__exit__()


@pytest.fixture(scope="session")
def api(serve: Callable[..., Api]) -> Api:
    return serve()
