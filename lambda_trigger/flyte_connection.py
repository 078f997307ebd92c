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
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lambda_trigger.settings import Settings

#: gRPC shares connections process-wide and backs off up to 120 s after failures, failing RPCs at once meanwhile.
#: A private pool lets the FlyteRemote built after a failed connect dial afresh, and a short backoff lets a cached
#: channel notice within seconds that flyteadmin is back.
GRPC_OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_reconnect_backoff_ms", 5000)]
#: flytekit auth modes that need a person (a browser or a device code); see load_flyte_config.
INTERACTIVE_AUTH_MODES = {"standard", "pkce", "deviceflow"}
#: The authenticator registered in their place: it never logs in.
NO_LOGIN = "nst-trigger-no-login"


class ConnectionFailed(Exception):
    """flyteadmin, the client secret or the launch plan cannot be reached; nothing can launch right now."""


class AuthenticationRequired(Exception):
    """flyteadmin demands credentials and the trigger has none it may use."""


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
    """Build FlyteRemote and fetch the launch plan; raises :class:`ConnectionFailed` with a one-line reason."""
    from flytekit.clients.grpc_utils.deadline_interceptor import scoped_grpc_deadline
    from flytekit.remote import FlyteRemote

    secret = read_client_secret(settings.client_secret_arn) if settings.client_secret_arn else None
    config = load_flyte_config(settings, secret)
    endpoint = config.platform.endpoint
    try:
        remote = FlyteRemote(
            config,
            default_project=settings.flyte_project,
            default_domain=settings.flyte_domain,
            options=GRPC_OPTIONS,
        )
        with scoped_grpc_deadline(settings.rpc_timeout_s):
            launch_plan = remote.fetch_launch_plan(name=settings.launch_plan, version=settings.launch_plan_version)
    except Exception as exc:  # flytekit raises many types here; all mean "cannot launch now"
        wanted = f"{settings.launch_plan}:{settings.launch_plan_version or 'latest'}"
        raise ConnectionFailed(
            f"cannot fetch launch plan {wanted} in {settings.flyte_project}/{settings.flyte_domain} "
            f"from flyteadmin at {endpoint}: {describe_flyte_error(exc)}"
        ) from exc
    return Connection(remote=remote, launch_plan=launch_plan, endpoint=endpoint)


def load_flyte_config(settings: Settings, client_secret: str | None = None) -> Any:
    """flytekit's Config from the file and the FLYTE_* environment, plus a client secret read from AWS."""
    from flytekit.configuration import AuthType, Config

    try:
        config_file = _config_file(settings.flyte_config_file) if settings.flyte_config_file else None
        config = Config.auto(config_file=config_file)
    except Exception as exc:
        raise ConnectionFailed(f"cannot read Flyte configuration {settings.flyte_config_file}: {exc}") from exc
    # flytekit retries every failed RPC at once, rpc_retries times; it reads no environment variable for it.
    platform = replace(config.platform, rpc_retries=settings.rpc_retries)
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
    return config.with_params(platform=platform)


def _mode_name(mode: Any) -> str:
    return str(getattr(mode, "value", mode)).lower()


def _register_no_login() -> None:
    """Register, under NO_LOGIN, a flytekit authenticator that never logs in and fails when login is required."""
    from flytekit.clients.auth.authenticator import Authenticator
    from flytekit.clients.auth_helper import register_authenticator_plugin

    class NoLogin(Authenticator):
        def refresh_credentials(self) -> None:
            raise AuthenticationRequired(
                f"flyteadmin at {self._endpoint} requires authentication: give the trigger a client id "
                "(FLYTE_CREDENTIALS_CLIENT_ID) and secret (NST_FLYTE_CLIENT_SECRET_ARN or "
                "FLYTE_CREDENTIALS_CLIENT_SECRET); interactive logins cannot run here"
            )

    register_authenticator_plugin(NO_LOGIN, lambda cfg, cfg_store: NoLogin(cfg.endpoint, header_key=""))


def read_client_secret(arn: str) -> str:
    """The Flyte client secret from AWS Secrets Manager: the SecretString, or its ``client_secret`` field if JSON."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        text = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ConnectionFailed(f"cannot read NST_FLYTE_CLIENT_SECRET_ARN={arn}: {code}") from None
    except (BotoCoreError, KeyError) as exc:
        raise ConnectionFailed(f"cannot read NST_FLYTE_CLIENT_SECRET_ARN={arn}: {type(exc).__name__}") from None
    text = text.strip()
    if text.startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            fields = None
        if not isinstance(fields, dict) or not isinstance(fields.get("client_secret"), str):
            raise ConnectionFailed(f"NST_FLYTE_CLIENT_SECRET_ARN={arn}: JSON secret has no 'client_secret' string")
        text = fields["client_secret"].strip()
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
    return " ".join(text.split())[:500]


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
