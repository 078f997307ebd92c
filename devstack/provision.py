"""The bucket, queues and notification of the local stack: the same shape as the AWS stack, on moto's server.

uploads/*  --ObjectCreated-->  SQS queue  --(worker = Lambda's SQS poller)-->  lambda_handler
                                 └── after ``max_receives`` failed deliveries: the dead-letter queue
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3

REGION = "us-east-1"
#: Moto accepts any key; fixed dummy ones make sure real AWS credentials are never sent anywhere.
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class Resources:
    """What the stack created, and where."""

    endpoint: str
    bucket: str
    queue_url: str
    queue_arn: str
    dead_letter_url: str
    upload_prefix: str
    style_prefix: str
    output_prefix: str

    def s3(self):
        return client("s3", self.endpoint)

    def sqs(self):
        return client("sqs", self.endpoint)


def client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)


def provision(
    endpoint: str,
    bucket: str = "nst-local",
    queue: str = "nst-uploads",
    upload_prefix: str = "uploads/",
    style_prefix: str = "styles/",
    output_prefix: str = "stylized/",
    max_receives: int = 3,
    visibility_timeout_s: int = 3600,
    page_origin: str | None = None,
) -> Resources:
    """Create (or find) the bucket and queues and route the upload prefix's ObjectCreated events to the queue.

    With ``page_origin`` (the web page's, ``make dev``), the bucket gets the AWS stack's kind of CORS rule: that
    origin alone may POST uploads and GET results from a browser. (moto's server adds its own allow-all CORS
    headers as well, and leaves them off a POST's answer when they are turned off, so locally the rule is
    configured as on AWS but not what admits the page.)"""
    s3, sqs = client("s3", endpoint), client("sqs", endpoint)
    s3.create_bucket(Bucket=bucket)
    if page_origin is not None:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [cors_rule(page_origin)]})
    dead_letter_url = sqs.create_queue(QueueName=f"{queue}-dlq")["QueueUrl"]
    dead_letter_arn = _arn(sqs, dead_letter_url)
    queue_url = sqs.create_queue(
        QueueName=queue,
        Attributes={
            # A local run holds its message while the workflow runs in-process; the worker releases failures early.
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(max_receives)}),
        },
    )["QueueUrl"]
    queue_arn = _arn(sqs, queue_url)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "uploads-to-trigger",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": upload_prefix}]}},
                }
            ]
        },
    )
    return Resources(
        endpoint, bucket, queue_url, queue_arn, dead_letter_url, upload_prefix, style_prefix, output_prefix
    )


def cors_rule(page_origin: str) -> dict[str, object]:
    """The bucket's one CORS rule for the web page: its presigned POST uploads, and GETs of styles and results."""
    return {
        "AllowedOrigins": [page_origin],
        "AllowedMethods": ["GET", "POST"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600,
    }


def _arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
