"""How the trigger reaches flyteadmin: flytekit's own configuration, the client secret, FlyteRemote, the launch plan.

Configuration follows flytekit's conventions: the file (``FLYTECTL_CONFIG``, else ``flyte.config`` next to the
package) is read with ``Config.auto``, and the ``FLYTE_*`` environment variables (``FLYTE_PLATFORM_URL``,
``FLYTE_PLATFORM_INSECURE``, ``FLYTE_CREDENTIALS_CLIENT_ID``, ``FLYTE_CREDENTIALS_AUTH_MODE``,
``FLYTE_CREDENTIALS_CLIENT_SECRET``, ...) override what the file says, entry by entry.

flytekit chooses the file's parser by its extension: ``*.yaml``/``*.yml`` as flytectl YAML, anything else as INI.
The repository's ``flyte.config`` is INI; a flytectl YAML file (``admin: {endpoint: ...}``) under another name,
which the INI parser would reject, is read through a ``.yaml`` copy in the temp directory. flytekit even reads
``FLYTECTL_CONFIG`` while being imported, so :func:`prepare_flytekit_environment` repoints that variable at the copy
before the first flytekit import.

This module imports flytekit lazily: dry-run invocations never pay for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from lambda_trigger import budget as budgets
from lambda_trigger.redaction import install as install_redaction
from lambda_trigger.redaction import redact, register_secret, scrub_exception
from lambda_trigger.settings import Settings

T = TypeVar("T")

#: gRPC shares connections process-wide and backs off up to 120 s after failures, failing RPCs at once meanwhile.
#: A private pool lets the FlyteRemote built after a failed connect dial afresh, and a short backoff lets a cached
#: channel notice within seconds that flyteadmin is back.
GRPC_OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_reconnect_backoff_ms", 5000)]
#: flytekit auth modes that need a person (a browser or a device code); see load_flyte_config.
INTERACTIVE_AUTH_MODES = {"standard", "pkce", "deviceflow"}
#: The authenticator registered in their place: it never logs in.
NO_LOGIN = "nst-trigger-no-login"
#: flytekit's client-credentials modes, and the authenticator registered in their place: the same flow, with a
#: deadline on the token request and on the auth-metadata RPCs (flytekit sets neither; a silent endpoint hangs).
CLIENT_CREDENTIALS_MODES = {"clientsecret", "client_credentials", "basic"}
BOUNDED_CLIENT_CREDENTIALS = "nst-trigger-client-credentials"
#: gRPC codes worth another attempt: flyteadmin (or the way to it) may answer differently in a moment. Every
#: other code (PERMISSION_DENIED, INVALID_ARGUMENT, INTERNAL, UNKNOWN, ...) fails at once.
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"})
#: RPCs of one launch plan fetch (ListLaunchPlans for "latest", GetLaunchPlan, GetWorkflow).
FETCH_RPCS = 3
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 2.0


class ConnectionFailed(Exception):
    """flyteadmin, the client secret or the launch plan cannot be reached; nothing can launch right now."""


@dataclass(frozen=True)
class Connection:
    """A FlyteRemote and the fetched launch plan, reused by every invocation of the container."""

    remote: Any  #: flytekit.remote.FlyteRemote
    launch_plan: Any  #: flytekit.remote.FlyteLaunchPlan
    endpoint: str

    @property
    def launch_plan_ref(self) -> str:
        """``name:version``, as logs and results show it."""
        return f"{self.launch_plan.id.name}:{self.launch_plan.id.version}"


def connect(settings: Settings) -> Connection:
    """Build FlyteRemote and fetch the launch plan; raises :class:`ConnectionFailed` with a one-line reason.

    Raises :class:`~lambda_trigger.budget.NotAttempted` instead when the invocation has no time left for it.
    """
    from flytekit.remote import FlyteRemote

    secret = read_client_secret(settings.client_secret_arn, settings) if settings.client_secret_arn else None
    config = load_flyte_config(settings, secret)
    endpoint = config.platform.endpoint
    if config.platform.client_credentials_secret:
        register_secret(config.platform.client_credentials_secret, config.platform.client_id)
    wanted = f"{settings.launch_plan}:{settings.launch_plan_version or 'latest'}"
    try:
        remote = FlyteRemote(
            config,
            default_project=settings.flyte_project,
            default_domain=settings.flyte_domain,
            options=GRPC_OPTIONS,
        )
        launch_plan = call_flyteadmin(
            settings,
            f"fetching launch plan {wanted} from flyteadmin",
            lambda attempt: remote.fetch_launch_plan(name=settings.launch_plan, version=settings.launch_plan_version),
            rpcs=FETCH_RPCS,
        )
    except budgets.NotAttempted:
        raise
    except Exception as exc:  # flytekit raises many types here; all mean "cannot launch now"
        scrub_exception(exc)  # an identity provider may have echoed the Basic header into the message
        if grpc_code(exc) == "UNAUTHENTICATED" and not config.platform.client_credentials_secret:
            raise ConnectionFailed(authentication_required(endpoint)) from exc
        raise ConnectionFailed(
            f"cannot fetch launch plan {wanted} in {settings.flyte_project}/{settings.flyte_domain} "
            f"from flyteadmin at {endpoint}: {describe_flyte_error(exc)}"
        ) from exc
    return Connection(remote=remote, launch_plan=launch_plan, endpoint=endpoint)


def call_flyteadmin(settings: Settings, what: str, call: Callable[[int], T], rpcs: int = 1) -> T:
    """``call(attempt)`` under a deadline per RPC, retried with backoff on transient gRPC codes only, within budget.

    flytekit's own retries are off (``rpc_retries=0`` in the config): it retries every failure at once, whatever
    the code. Each attempt starts only if its worst case fits in the invocation's time left (see ``budget.py``).
    """
    budget = budgets.current()
    worst = rpc_worst_s(settings, rpcs)
    for attempt in range(settings.rpc_retries + 1):
        budget.require(worst, what)
        try:
            with _scoped_grpc_deadline(budget.cap(send_deadline_s(settings))):
                return call(attempt)
        except Exception as exc:
            if grpc_code(exc) not in TRANSIENT_CODES or attempt == settings.rpc_retries:
                raise
            pause = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt) * random.uniform(0.5, 1.0)
            if budget.left() < pause + worst:
                raise  # no time for another attempt: report what this one found
            time.sleep(pause)
    raise AssertionError("unreachable: the last attempt returns or raises")


def rpc_worst_s(settings: Settings, rpcs: int = 1) -> float:
    """The longest ``rpcs`` flyteadmin RPCs may take: each within NST_FLYTE_RPC_TIMEOUT_S (see ``send_deadline_s``),
    plus one token request (the first RPC of a container with a client secret fetches a token)."""
    return rpcs * settings.rpc_timeout_s + settings.connect_timeout_s + settings.read_timeout_s


def send_deadline_s(settings: Settings) -> float:
    """The deadline of each send of an RPC: half of NST_FLYTE_RPC_TIMEOUT_S, because flytekit sends an RPC a second
    time after UNAUTHENTICATED or UNKNOWN (with refreshed credentials), so that both sends fit in the RPC's deadline."""
    return settings.rpc_timeout_s / 2


def _scoped_grpc_deadline(seconds: float) -> Any:
    from flytekit.clients.grpc_utils.deadline_interceptor import scoped_grpc_deadline

    return scoped_grpc_deadline(seconds)


def grpc_code(exc: BaseException) -> str | None:
    """The gRPC status code name behind a flytekit exception (flytekit keeps the RpcError as ``__cause__``)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        code = getattr(seen, "code", None)
        if callable(code):
            try:
                value = code()
            except Exception:
                value = None
            name = getattr(value, "name", None)
            if isinstance(name, str):
                return name
        seen = seen.__cause__
    return None


def authentication_required(endpoint: str) -> str:
    return (
        f"flyteadmin at {endpoint} requires authentication: give the trigger a client id "
        "(FLYTE_CREDENTIALS_CLIENT_ID) and secret (NST_FLYTE_CLIENT_SECRET_ARN or "
        "FLYTE_CREDENTIALS_CLIENT_SECRET); interactive logins cannot run here"
    )


def load_flyte_config(settings: Settings, client_secret: str | None = None) -> Any:
    """flytekit's Config from the file and the FLYTE_* environment, plus a client secret read from AWS."""
    from flytekit.configuration import AuthType, Config

    try:
        config_file = _config_file(settings.flyte_config_file) if settings.flyte_config_file else None
        config = Config.auto(config_file=config_file)
    except Exception as exc:
        raise ConnectionFailed(f"cannot read Flyte configuration {settings.flyte_config_file}: {exc}") from exc
    # flytekit would retry every failed RPC at once, whatever its code: call_flyteadmin retries instead.
    platform = replace(config.platform, rpc_retries=0)
    if client_secret is not None:
        platform = replace(platform, client_credentials_secret=client_secret)
    # Nobody can answer a browser (Pkce, which flyte.config names for the demo) or device-code login here: flytekit
    # would wait for the callback until the Lambda times out. Unless FLYTE_CREDENTIALS_AUTH_MODE says otherwise, a
    # client secret means client-credentials auth, and no secret means no login at all: an RPC that flyteadmin
    # refuses as unauthenticated then fails at once, saying what to configure.
    if not os.environ.get("FLYTE_CREDENTIALS_AUTH_MODE"):
        if platform.client_credentials_secret:
            platform = replace(platform, auth_mode=AuthType.CLIENTSECRET)
        elif _mode_name(platform.auth_mode) in INTERACTIVE_AUTH_MODES:
            _register_no_login()
            platform = replace(platform, auth_mode=NO_LOGIN)
    if _mode_name(platform.auth_mode) in CLIENT_CREDENTIALS_MODES:
        _register_bounded_client_credentials(settings)
        platform = replace(platform, auth_mode=BOUNDED_CLIENT_CREDENTIALS)
    return config.with_params(platform=platform)


def _mode_name(mode: Any) -> str:
    return str(getattr(mode, "value", mode)).lower()


def _register_no_login() -> None:
    """Register, under NO_LOGIN, a flytekit authenticator that never logs in.

    flytekit calls ``refresh_credentials`` after UNAUTHENTICATED *and* after UNKNOWN, then resends the RPC once.
    Doing nothing there lets the resent RPC's own status through, so UNAUTHENTICATED is reported as needing
    credentials (``authentication_required``) and UNKNOWN as what it is.
    """
    from flytekit.clients.auth.authenticator import Authenticator
    from flytekit.clients.auth_helper import register_authenticator_plugin

    class NoLogin(Authenticator):
        def refresh_credentials(self) -> None:
            pass

    register_authenticator_plugin(NO_LOGIN, lambda cfg, cfg_store: NoLogin(cfg.endpoint, header_key=""))


def _register_bounded_client_credentials(settings: Settings) -> None:
    """Register flytekit's client-credentials authenticator with deadlines on every call it makes.

    Its token request goes through a session whose every request has the connect and read timeouts (capped by the
    invocation's budget), and the auth metadata (token endpoint, header name) is read with an RPC deadline.
    """
    import requests
    from flyteidl.service.auth_pb2 import OAuth2MetadataRequest, PublicClientAuthConfigRequest
    from flyteidl.service.auth_pb2_grpc import AuthMetadataServiceStub
    from flytekit.clients.auth.authenticator import ClientConfig, ClientConfigStore, ClientCredentialsAuthenticator
    from flytekit.clients.auth_helper import register_authenticator_plugin

    class BoundedSession(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            budget = budgets.current()
            kwargs.setdefault("timeout", (budget.cap(settings.connect_timeout_s), budget.cap(settings.read_timeout_s)))
            return super().request(method, url, *args, **kwargs)

    class BoundedConfigStore(ClientConfigStore):
        def __init__(self, inner: Any) -> None:
            # flytekit's RemoteClientConfigStore keeps the channel privately and calls without a deadline.
            self._inner = inner
            self._channel = getattr(inner, "_secure_channel", None)

        def get_client_config(self) -> Any:
            if self._channel is None:
                return self._inner.get_client_config()
            stub = AuthMetadataServiceStub(self._channel)
            deadline = budgets.current().cap(settings.rpc_timeout_s)
            public = stub.GetPublicClientConfig(PublicClientAuthConfigRequest(), timeout=deadline)
            oauth2 = stub.GetOAuth2Metadata(OAuth2MetadataRequest(), timeout=deadline)
            return ClientConfig(
                token_endpoint=oauth2.token_endpoint,
                authorization_endpoint=oauth2.authorization_endpoint,
                redirect_uri=public.redirect_uri,
                client_id=public.client_id,
                scopes=list(public.scopes),
                header_key=public.authorization_metadata_key or None,
                device_authorization_endpoint=oauth2.device_authorization_endpoint,
                audience=public.audience,
            )

    def factory(cfg: Any, cfg_store: Any) -> Any:
        verify = False if cfg.insecure_skip_verify else (cfg.ca_cert_file_path or None)
        return ClientCredentialsAuthenticator(
            endpoint=cfg.endpoint,
            client_id=cfg.client_id,
            client_secret=cfg.client_credentials_secret,
            cfg_store=BoundedConfigStore(cfg_store),
            scopes=cfg.scopes,
            audience=cfg.audience,
            http_proxy_url=cfg.http_proxy_url,
            verify=verify,
            session=BoundedSession(),
        )

    register_authenticator_plugin(BOUNDED_CLIENT_CREDENTIALS, factory)


def read_client_secret(arn: str, settings: Settings) -> str:
    """The Flyte client secret from AWS Secrets Manager: the SecretString, or its ``client_secret`` field if JSON.

    The call has the connect and read timeouts of the settings and one retry, and starts only if its worst case
    fits in the invocation's budget. The secret is registered for redaction before anything else sees it.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    budgets.current().require(settings.http_call_worst_s, f"reading NST_FLYTE_CLIENT_SECRET_ARN={arn}")
    install_redaction()  # botocore's DEBUG line with the response body is withheld from the first call on
    try:
        client = boto3.client("secretsmanager", config=settings.aws_client_config())
        text = client.get_secret_value(SecretId=arn)["SecretString"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ConnectionFailed(f"cannot read NST_FLYTE_CLIENT_SECRET_ARN={arn}: {code}") from None
    except (BotoCoreError, KeyError, TypeError) as exc:
        raise ConnectionFailed(f"cannot read NST_FLYTE_CLIENT_SECRET_ARN={arn}: {type(exc).__name__}") from None
    if not isinstance(text, str):
        raise ConnectionFailed(f"NST_FLYTE_CLIENT_SECRET_ARN={arn}: the secret is not a string")
    register_secret(text.strip())
    text = text.strip()
    if text.startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            fields = None
        if not isinstance(fields, dict) or not isinstance(fields.get("client_secret"), str):
            raise ConnectionFailed(f"NST_FLYTE_CLIENT_SECRET_ARN={arn}: JSON secret has no 'client_secret' string")
        text = fields["client_secret"].strip()
        register_secret(text)
    if not text:
        raise ConnectionFailed(f"NST_FLYTE_CLIENT_SECRET_ARN={arn}: the secret is empty")
    return text


def describe_flyte_error(exc: BaseException) -> str:
    """One line for a flytekit/gRPC failure: the exception type, then the gRPC status and details it wraps."""
    cause = exc.__cause__
    details = getattr(cause, "details", None)
    if callable(details):
        code = cause.code() if callable(getattr(cause, "code", None)) else None  # type: ignore[union-attr]
        text = f"{type(exc).__name__} {getattr(code, 'name', code)}: {details()}"
    elif cause is not None:
        text = f"{type(exc).__name__} {type(cause).__name__}: {cause}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc).strip() else type(exc).__name__
    return redact(" ".join(text.split()))[:500]


def readable_config_path(path: str) -> str:
    """A path to ``path``'s content that flytekit parses as intended: the file itself, or a ``.yaml`` copy."""
    if path.endswith((".yaml", ".yml")):
        return path
    text = Path(path).read_text(encoding="utf-8")
    if _looks_like_ini(text):
        return path
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    copy = Path(tempfile.gettempdir()) / f"nst-trigger-flyte-config-{digest}.yaml"
    if not copy.exists():
        copy.write_text(text, encoding="utf-8")
    return str(copy)


def prepare_flytekit_environment() -> None:
    """Call before flytekit is imported: its import reads FLYTECTL_CONFIG, and fails on YAML it parses as INI."""
    path = os.environ.get("FLYTECTL_CONFIG")
    if path and Path(path).is_file():
        os.environ["FLYTECTL_CONFIG"] = readable_config_path(path)


def _config_file(path: str) -> Any:
    from flytekit.configuration.file import ConfigFile

    return ConfigFile(readable_config_path(path))


def _looks_like_ini(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return stripped.startswith("[")
    return False
