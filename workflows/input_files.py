"""Fetching a run's input images: which images a run reads (with the role its errors name), which URIs may be read
at all (the input policy), and downloading one, where a missing or refused image is the user's error and a failed
transfer is retried.

The input policy (README.md, "Input URIs"), applied to every image before any byte of it is read:

* ``s3://``: always, within ``NST_ALLOWED_BUCKETS`` where the task's environment sets it (comma-separated; unset:
  any bucket the task's role can read).
* ``https://``: only where ``NST_ALLOW_HTTPS=1``, and only to a host whose every address is public: a loopback,
  link-local (169.254.169.254, the cloud metadata service), private, reserved or otherwise non-global address is
  refused. The connection goes to the address that was checked (no second lookup a DNS answer could change), and a
  redirect is refused, not followed.
* ``http://``, ``file://`` and every other scheme: refused.
* A local path: only in a local execution (``pyflyte run``); a task on a cluster must not read its pod's files.

A remote image's size is read first (HeadObject, HTTP HEAD) and one above ``images.MAX_DECODE_BYTES`` is refused
without being downloaded; an HTTPS body is also cut off at that size, whatever its headers said.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ResolveTimeout
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import click
from flytekit.core.context_manager import FlyteContextManager
from flytekit.exceptions.user import FlyteRecoverableException
from flytekit.types.file import FlyteFile

from workflows import images
from workflows.engine.options import INIT_IMAGES

#: The role of the init image among a run's inputs (the one image brought to the photo's exact size).
INIT_ROLE = "init"
#: The task environment's settings of the policy (read in :meth:`InputPolicy.from_env` only).
ALLOWED_BUCKETS_VARIABLE = "NST_ALLOWED_BUCKETS"
ALLOW_HTTPS_VARIABLE = "NST_ALLOW_HTTPS"
#: Seconds for a host name's lookup, and for each HTTPS connect and read.
NETWORK_TIMEOUT_S = 10.0
ALLOWED = "inputs are s3:// URIs, https:// where NST_ALLOW_HTTPS=1, or local paths in a local run"


class InputUnreachable(click.ClickException, FlyteRecoverableException):
    """An input's store cannot be reached now. On a cluster the attempt is retried (a recoverable error); in
    ``pyflyte run`` click prints its one line instead of a traceback (see ``workflows/errors.py``)."""


@dataclass(frozen=True)
class InputPolicy:
    """Where input images may come from: see the module docstring."""

    allowed_buckets: tuple[str, ...] = ()  #: empty: any bucket the task's role can read
    allow_https: bool = False
    local_paths: bool = False  #: a local execution (pyflyte run) reads local paths; a cluster task does not

    @classmethod
    def from_env(cls) -> InputPolicy:
        """The policy of the running task: its environment's settings, and whether it runs locally."""
        buckets = os.environ.get(ALLOWED_BUCKETS_VARIABLE, "")
        state = FlyteContextManager.current_context().execution_state
        return cls(
            allowed_buckets=tuple(bucket.strip() for bucket in buckets.split(",") if bucket.strip()),
            allow_https=os.environ.get(ALLOW_HTTPS_VARIABLE, "").strip() == "1",
            local_paths=bool(state and state.is_local_execution()),
        )


def image_inputs(
    content_img: FlyteFile, style_img: FlyteFile, more_styles: list[FlyteFile], init_image: str
) -> list[tuple[FlyteFile | str, str]]:
    """Every image a run reads, with the role its error messages name: the photo, the styles, the init image."""
    sources: list[tuple[FlyteFile | str, str]] = [(content_img, "content"), (style_img, "style")]
    sources += [(image, f"style {index + 2} (more_styles[{index}])") for index, image in enumerate(more_styles)]
    if init_image not in INIT_IMAGES:
        sources.append((init_image, INIT_ROLE))
    return sources


#: The role of the content-protect mask.
PRESERVE_ROLE = "preserve_mask"


def mask_inputs(style_masks: list[FlyteFile], preserve_mask: FlyteFile | None) -> list[tuple[FlyteFile, str]]:
    """The masks a run reads, with the role their errors name: one per style, then the protect mask."""
    sources = [(mask, f"style mask {index + 1} (style_masks[{index}])") for index, mask in enumerate(style_masks)]
    return sources + ([(preserve_mask, PRESERVE_ROLE)] if preserve_mask is not None else [])


def uri_of(image: FlyteFile | str) -> str:
    return image if isinstance(image, str) else str(image.remote_source or image.path)


def check_source(uri: str, role: str, policy: InputPolicy) -> str | None:
    """Refuse ``uri`` unless the policy allows it, with an ``ImageInputError`` naming the role and the URI; no
    byte of the image is read. For ``https://``, the checked address to connect to; else None."""
    if "://" not in uri:
        if not policy.local_paths:
            raise _refused(role, uri, "a local path is read only in a local run (pyflyte run); give an s3:// URI")
        return None
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        if policy.allowed_buckets and parts.netloc not in policy.allowed_buckets:
            listed = ", ".join(policy.allowed_buckets)
            raise _refused(role, uri, f"bucket {parts.netloc!r} is not in {ALLOWED_BUCKETS_VARIABLE} ({listed})")
        return None
    if scheme != "https":
        raise _refused(
            role, uri, f"{f'{scheme}://' if scheme else 'a URI without a scheme'} is not allowed ({ALLOWED})"
        )
    if not policy.allow_https:
        raise _refused(role, uri, f"https:// inputs are off; a deployment allows them with {ALLOW_HTTPS_VARIABLE}=1")
    return _public_address(parts, role, uri)


def fetch(image: FlyteFile | str, role: str, max_bytes: int = images.MAX_DECODE_BYTES) -> str:
    """The local path of an input image (a FlyteFile input, or a URI or local path given as a string), after the
    input policy allowed it and its size is within ``max_bytes``: a missing, refused or oversized image is the
    user's error (``ImageInputError``), a failed transfer is retried (``InputUnreachable``)."""
    uri = uri_of(image)
    address = check_source(uri, role, InputPolicy.from_env())
    if "://" not in uri:
        if not Path(uri).is_file():
            raise images.ImageInputError(f"{role} image {uri}: not found")
        return uri
    if address is not None:
        return download_https(uri, address, role, max_bytes)
    access = FlyteContextManager.current_context().file_access
    try:
        size = access.get_filesystem_for_path(uri).info(uri).get("size")
    except FileNotFoundError:
        raise images.ImageInputError(f"{role} image {uri}: not found") from None
    except Exception as exc:  # a store that does not answer: the next attempt may find it
        raise InputUnreachable(f"{role} image {uri}: cannot be reached, will retry ({_one_line(exc)})") from exc
    _check_size(size, max_bytes, role, uri)
    try:
        if isinstance(image, FlyteFile):
            return image.download()
        local = access.get_random_local_path(Path(uri).name)
        access.get_data(uri, local)
        return local
    except Exception as exc:  # flytekit wraps every transport failure in one system exception
        raise InputUnreachable(f"{role} image {uri}: download failed, will retry ({_one_line(exc)})") from exc


# --------------------------------------------------------------------------------------------------- https


def _public_address(parts: SplitResult, role: str, uri: str) -> str:
    """The first address of the URI's host, once every address it resolves to is public."""
    host = parts.hostname
    if not host:
        raise _refused(role, uri, "names no host")
    pool = ThreadPoolExecutor(max_workers=1)  # getaddrinfo has no timeout of its own
    try:
        found = pool.submit(socket.getaddrinfo, host, parts.port or 443, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in found.result(timeout=NETWORK_TIMEOUT_S)]
    except ResolveTimeout:
        raise InputUnreachable(f"{role} image {uri}: host {host} was not resolved in time, will retry") from None
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            raise images.ImageInputError(f"{role} image {uri}: host {host} does not exist") from None
        raise InputUnreachable(f"{role} image {uri}: host {host} cannot be resolved, will retry ({exc})") from None
    finally:
        pool.shutdown(wait=False)
    for address in addresses:
        kind = address_kind(address)
        if kind is not None:
            raise _refused(role, uri, f"host {host} is at {address}, a {kind} address; only public hosts are fetched")
    return addresses[0]


def address_kind(address: str) -> str | None:
    """What makes ``address`` non-public (``loopback``, ``link-local``, ``private``, ...), or None for a global one."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind in ("loopback", "link_local", "private", "reserved", "multicast", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to ``host`` (its certificate and SNI) at the address the policy checked: no second lookup of the host,
    which a DNS answer with a short TTL could point elsewhere."""

    def __init__(self, host: str, address: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=NETWORK_TIMEOUT_S, context=context)
        self.address = address

    def connect(self) -> None:
        connection = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(connection, server_hostname=self.host)  # type: ignore[attr-defined]


def download_https(uri: str, address: str, role: str, max_bytes: int, context: ssl.SSLContext | None = None) -> str:
    """GET ``uri`` from ``address`` into a local file: its HEAD's size first, at most ``max_bytes`` read, no
    redirect followed. ``context``: the TLS settings (the system's trust store by default)."""
    parts = urlsplit(uri)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _PinnedHTTPSConnection(
        str(parts.hostname), address, parts.port or 443, context or ssl.create_default_context()
    )
    try:
        connection.request("HEAD", target)
        head = connection.getresponse()
        head.read()
        if head.status < 400:  # a server without HEAD is still bounded by the read below
            _check_status(head, role, uri)
            length = head.getheader("Content-Length")
            _check_size(int(length) if length and length.isdigit() else None, max_bytes, role, uri)
        connection.request("GET", target)
        response = connection.getresponse()
        _check_status(response, role, uri)
        local = Path(FlyteContextManager.current_context().file_access.get_random_local_path(Path(parts.path).name))
        local.parent.mkdir(parents=True, exist_ok=True)
        with local.open("wb") as stream:
            while chunk := response.read(1 << 20):
                stream.write(chunk)
                if stream.tell() > max_bytes:
                    raise _refused(role, uri, f"more than {max_bytes:,} bytes, the limit; not read further")
        return str(local)
    except (images.ImageInputError, InputUnreachable):
        raise
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, TLS failed
        raise InputUnreachable(f"{role} image {uri}: cannot be reached, will retry ({_one_line(exc)})") from exc
    finally:
        connection.close()


def _check_status(response: http.client.HTTPResponse, role: str, uri: str) -> None:
    if response.status in (404, 410):
        raise images.ImageInputError(f"{role} image {uri}: not found")
    if 300 <= response.status < 400:
        raise _refused(role, uri, f"the server redirects ({response.status}); give the image's own URL")
    if response.status >= 500:
        raise InputUnreachable(f"{role} image {uri}: the server answered {response.status}, will retry")
    if response.status >= 400:
        raise images.ImageInputError(f"{role} image {uri}: the server refused it ({response.status})")


# --------------------------------------------------------------------------------------------------- both


def _check_size(size: object, max_bytes: int, role: str, uri: str) -> None:
    """No image preprocessing would decode is bigger as a file than ``max_bytes`` (the decode limit)."""
    if isinstance(size, int) and size > max_bytes:
        raise _refused(role, uri, f"{size:,} bytes, above the limit of {max_bytes:,}; not downloaded")


def _refused(role: str, uri: str, reason: str) -> images.ImageInputError:
    return images.ImageInputError(f"{role} image {uri}: {reason}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
