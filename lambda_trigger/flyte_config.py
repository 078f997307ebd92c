"""The trigger's flytekit configuration: flytekit's own file and ``FLYTE_*`` environment, a file flytekit would
misparse read through a ``.yaml`` copy, and logins that cannot hang (no interactive login; client credentials
with deadlines on every call they make).

Configuration follows flytekit's conventions: the file (``FLYTECTL_CONFIG``, else ``flyte.config`` next to the
package) is read with ``Config.auto``, and the ``FLYTE_*`` environment variables (``FLYTE_PLATFORM_URL``,
``FLYTE_PLATFORM_INSECURE``, ``FLYTE_CREDENTIALS_CLIENT_ID``, ``FLYTE_CREDENTIALS_AUTH_MODE``,
``FLYTE_CREDENTIALS_CLIENT_SECRET``, ...) override what the file says, entry by entry.

flytekit chooses the file's parser by its extension: ``*.yaml``/``*.yml`` as flytectl YAML, anything else as INI.
The repository's ``flyte.config`` is INI; a flytectl YAML file (``admin: {endpoint: ...}``) under another name,
which the INI parser would reject, is read through a ``.yaml`` copy in the temp directory. flytekit even reads
``FLYTECTL_CONFIG`` while being imported, so :func:`prepare_flytekit_environment` repoints that variable at the copy
before the first flytekit import. flytekit is imported lazily: dry-run invocations never pay for it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from lambda_trigger import budget as budgets
from lambda_trigger.admin_calls import ConnectionFailed
from lambda_trigger.settings import Settings

#: flytekit auth modes that need a person (a browser or a device code); see load_flyte_config.
INTERACTIVE_AUTH_MODES = {"standard", "pkce", "deviceflow"}
#: The authenticator registered in their place: it never logs in.
NO_LOGIN = "nst-trigger-no-login"
#: flytekit's client-credentials modes, and the authenticator registered in their place: the same flow, with a
#: deadline on the token request and on the auth-metadata RPCs (flytekit sets neither; a silent endpoint hangs).
CLIENT_CREDENTIALS_MODES = {"clientsecret", "client_credentials", "basic"}
BOUNDED_CLIENT_CREDENTIALS = "nst-trigger-client-credentials"


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
