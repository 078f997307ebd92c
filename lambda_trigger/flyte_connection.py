"""How the trigger reaches flyteadmin: a FlyteRemote built from the configuration (``flyte_config.py``) and the
client secret (``client_secret.py``), and the launch plan it launches, fetched through ``admin_calls.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambda_trigger import budget as budgets
from lambda_trigger.admin_calls import (
    ConnectionFailed,
    authentication_required,
    call_flyteadmin,
    describe_flyte_error,
    grpc_code,
)
from lambda_trigger.client_secret import read_client_secret
from lambda_trigger.flyte_config import load_flyte_config
from lambda_trigger.redaction import register_secret, scrub_exception
from lambda_trigger.settings import Settings

#: gRPC shares connections process-wide and backs off up to 120 s after failures, failing RPCs at once meanwhile.
#: A private pool lets the FlyteRemote built after a failed connect dial afresh, and a short backoff lets a cached
#: channel notice within seconds that flyteadmin is back.
GRPC_OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_reconnect_backoff_ms", 5000)]
#: RPCs of one launch plan fetch (ListLaunchPlans for "latest", GetLaunchPlan, GetWorkflow).
FETCH_RPCS = 3


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
