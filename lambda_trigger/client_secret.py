"""The Flyte client secret, read from AWS Secrets Manager under a deadline and registered for redaction first."""

from __future__ import annotations

import json

from lambda_trigger import budget as budgets
from lambda_trigger.admin_calls import ConnectionFailed
from lambda_trigger.redaction import install as install_redaction
from lambda_trigger.redaction import register_secret
from lambda_trigger.settings import Settings


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
