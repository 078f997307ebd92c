"""Soak the trigger: a shuffled redelivery storm, then the worst-case invocation under each fault (measured, not
asserted; ``make soak``).

    .venv/bin/python -m benchmarks.soak_trigger [--uploads 250] [--deliveries 4] [--out PATH]

1. **Redelivery storm.** ``uploads x deliveries`` S3 events (1,000 by default) for ``uploads`` distinct objects,
   shuffled, in SQS batches of 10, through ``lambda_handler`` in remote mode: the real FlyteRemote over gRPC to the
   in-process fake flyteadmin (tests/fakes.py). 1 % of the CreateExecution calls are committed and
   then answered UNAVAILABLE (a lost reply) and 1 % fail UNAVAILABLE outright, so retries are in the storm too.
   Reported: executions created (must equal ``uploads``), CreateExecution calls, events/s, and p50/p99 of the time
   per record (the pipeline's per-record step, timed by this harness: decide, name, one HeadObject to moto's S3
   for the upload's options, launch, log).
2. **Faults.** A 10-message SQS batch per fault, each in a fresh container with the production defaults
   (NST_CONNECT_TIMEOUT_S=2, NST_READ_TIMEOUT_S=5, NST_FLYTE_RPC_TIMEOUT_S=10, NST_FLYTE_RPC_RETRIES=3) and the
   SAM template's Lambda timeout (120 s): black holes (accept, never answer) in place of Secrets Manager, the
   token endpoint, S3 and flyteadmin; a flyteadmin that answers just before each deadline, or answers INTERNAL
   then, or UNAVAILABLE at once; poison messages. Reported: the invocation's wall time against the timeout, and
   whether every message got its outcome (item failures for exactly the failed ones).

This takes about 4 minutes, most of it waiting out the slow-flyteadmin faults.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3  # noqa: E402
import grpc  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from benchmarks.common import REPO, machine, percentile
from tests.fakes import (  # noqa: E402
    BUCKET,
    BlackHole,
    FakeFlyteAdmin,
    LambdaContextStub,
    TokenEndpoint,
    start_admin,
)

LAMBDA_TIMEOUT_S = 120.0  # deploy/template.yaml, TriggerFunction Timeout
STYLE = f"s3://{BUCKET}/styles/default.jpg"
LOG_SINK = open(os.devnull, "w")  # noqa: SIM115  (powertools keeps the stream of the first Logger)
SECRET = "soak-s3cr3t+/="


def s3_record(index: int, folder: str = "") -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2024-05-14T09:21:36.512Z",
        "s3": {
            "bucket": {"name": BUCKET},
            "object": {
                "key": f"uploads/{folder}soak photo {index}.jpg",
                "size": 245760,
                "eTag": f"{index:032x}",
                "sequencer": f"{index + 1:016X}",
            },
        },
    }


def sqs_event(bodies: list[str], prefix: str) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"{prefix}-{i}", "body": body, "eventSource": "aws:sqs", "receiptHandle": "r"}
            for i, body in enumerate(bodies)
        ]
    }


@contextlib.contextmanager
def container(env: dict[str, str]) -> Iterator[Any]:
    """A fresh import of the handler module under ``env`` (a new Lambda container); the environment is restored."""
    saved = dict(os.environ)
    for name in [name for name in os.environ if name.startswith(("NST_", "FLYTE_", "AWS_ENDPOINT_URL_"))]:
        del os.environ[name]
    os.environ.update({"NST_STYLE_URI": STYLE, "NST_ALLOWED_BUCKETS": BUCKET, **env})
    try:
        with contextlib.redirect_stdout(LOG_SINK):
            sys.modules.pop("lambda_trigger.lambda_function", None)
            yield importlib.import_module("lambda_trigger.lambda_function")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def admin_env(endpoint: str) -> dict[str, str]:
    return {"FLYTE_PLATFORM_URL": endpoint, "FLYTE_PLATFORM_INSECURE": "true", "FLYTECTL_CONFIG": ""}


# ----------------------------------------------------------------------------------------------- the storm


def storm(uploads: int, deliveries: int, moto_endpoint: str, seed: int = 7) -> dict[str, Any]:
    admin = start_admin(FakeFlyteAdmin())
    rng = random.Random(seed)
    events = [index for index in range(uploads) for _ in range(deliveries)]
    rng.shuffle(events)
    # 1 % of calls: committed, reply lost; 1 % refused UNAVAILABLE; the rest answered normally.
    faults: list[tuple[grpc.StatusCode, bool] | None] = []
    for _ in range(len(events) * 2):
        draw = rng.random()
        faults.append((grpc.StatusCode.UNAVAILABLE, True) if draw < 0.01 else None)
        if 0.01 <= draw < 0.02:
            faults[-1] = (grpc.StatusCode.UNAVAILABLE, False)
    try:
        with container({**admin_env(admin.endpoint), "AWS_ENDPOINT_URL": moto_endpoint}) as module:
            per_record: list[float] = []
            original = module.TRIGGER._handle

            def timed(record: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(record)
                finally:
                    per_record.append(time.perf_counter() - started)

            module.TRIGGER._handle = timed
            # warm: the container's first launch builds FlyteRemote and fetches the launch plan
            module.lambda_handler(sqs_event([json.dumps({"Records": [s3_record(10**6)]})], "warm"), LambdaContextStub())
            per_record.clear()
            admin.servicer.reset()
            admin.servicer.create_faults = faults
            outcomes = {"launched": 0, "duplicate": 0, "failed": 0, "retried": 0}
            started = time.perf_counter()
            for batch_start in range(0, len(events), 10):
                batch = events[batch_start : batch_start + 10]
                bodies = [json.dumps({"Records": [s3_record(index)]}) for index in batch]
                result = module.lambda_handler(sqs_event(bodies, f"b{batch_start}"), LambdaContextStub(timeout_s=120))
                for item in result["launched"]:
                    outcomes["launched"] += 1
                    outcomes["duplicate"] += bool(item["duplicate"])
                    outcomes["retried"] += item.get("attempts", 1) > 1
                outcomes["failed"] += len(result["failed"])
            seconds = time.perf_counter() - started
        ms = [value * 1000 for value in per_record]
        return {
            "events": len(events),
            "distinct_uploads": uploads,
            "deliveries_each": deliveries,
            "executions_created": len(admin.servicer.executions),
            "create_execution_calls": admin.servicer.calls.count("CreateExecution"),
            "faults_injected": sum(
                fault is not None for fault in faults[: admin.servicer.calls.count("CreateExecution")]
            ),
            **outcomes,
            "seconds": seconds,
            "events_per_s": len(events) / seconds,
            "per_record_ms": {
                "p50": statistics.median(ms),
                "p99": percentile(ms, 0.99),
                "max": max(ms),
            },
        }
    finally:
        admin.stop()


# ----------------------------------------------------------------------------------------------- faults


def fault_batch(folder: str = "") -> list[str]:
    return [json.dumps({"Records": [s3_record(index, folder)]}) for index in range(10)]


def run_fault(name: str, env: dict[str, str], bodies: list[str], prepare: Callable[[], None] = lambda: None) -> dict:
    with container(env) as module:
        prepare()
        started = time.perf_counter()
        result = module.lambda_handler(sqs_event(bodies, "f"), LambdaContextStub(timeout_s=LAMBDA_TIMEOUT_S))
        seconds = time.perf_counter() - started
    ids = sorted(f"f-{i}" for i in range(len(bodies)))
    outcomes = sorted(item["message_id"] for kind in ("launched", "skipped", "failed") for item in result[kind])
    failed_ids = [item["message_id"] for item in result["failed"]]
    row = {
        "fault": name,
        "seconds": seconds,
        "lambda_timeout_s": LAMBDA_TIMEOUT_S,
        "launched": len(result["launched"]),
        "failed": len(result["failed"]),
        "item_failures": len(result["batchItemFailures"]),
        "nothing_lost": outcomes == ids and [e["itemIdentifier"] for e in result["batchItemFailures"]] == failed_ids,
        "first_error": result["failed"][0]["error"][:160] if result["failed"] else None,
    }
    print(
        f"  {name:<58} {seconds:7.2f} s of {LAMBDA_TIMEOUT_S:.0f} s  launched {row['launched']:>2}  failed "
        f"{row['failed']:>2}  nothing lost: {row['nothing_lost']}",
        flush=True,
    )
    return row


def faults(moto_endpoint: str) -> list[dict[str, Any]]:
    rows = []
    healthy = start_admin(FakeFlyteAdmin())
    hole = BlackHole()
    try:
        base = {**admin_env(healthy.endpoint), "AWS_ENDPOINT_URL": moto_endpoint}
        rows.append(run_fault("none (healthy flyteadmin, S3 on moto)", base, fault_batch("monet/")))
        arn = boto3.client("secretsmanager", endpoint_url=moto_endpoint).create_secret(
            Name=f"soak-{time.time_ns()}", SecretString=SECRET
        )["ARN"]
        secret_env = {"NST_FLYTE_CLIENT_SECRET_ARN": arn, "FLYTE_CREDENTIALS_CLIENT_ID": "nst"}
        rows.append(
            run_fault(
                "Secrets Manager accepts and never answers",
                {**base, **secret_env, "AWS_ENDPOINT_URL_SECRETS_MANAGER": hole.url},
                fault_batch(),
            )
        )
        silent_tokens = start_admin(FakeFlyteAdmin(), token_url=f"{hole.url}/oauth2/token")
        silent_tokens.servicer.required_token = TokenEndpoint.ACCESS_TOKEN
        try:
            rows.append(
                run_fault(
                    "token endpoint accepts and never answers",
                    {**base, **admin_env(silent_tokens.endpoint), **secret_env},
                    fault_batch(),
                )
            )
        finally:
            silent_tokens.stop()
        rows.append(
            run_fault(
                "S3 accepts and never answers (each upload's HeadObject)",
                {**base, "AWS_ENDPOINT_URL_S3": hole.url},
                fault_batch("monet/"),
            )
        )
        rows.append(
            run_fault("flyteadmin accepts and never answers", {**base, **admin_env(hole.endpoint)}, fault_batch())
        )

        def admin_behaves(delay_s: float, fail_with: Any = None, create_fails_with: Any = None) -> Callable[[], None]:
            def prepare() -> None:
                healthy.servicer.reset()
                healthy.servicer.delay_s = delay_s
                healthy.servicer.fail_with = fail_with
                if create_fails_with is not None:
                    healthy.servicer.create_faults = [(create_fails_with, False)] * 100

            return prepare

        just_before = 4.9  # each send's deadline is NST_FLYTE_RPC_TIMEOUT_S / 2 = 5 s
        rows.append(
            run_fault(
                "flyteadmin answers every RPC just before its deadline", base, fault_batch(), admin_behaves(just_before)
            )
        )
        rows.append(
            run_fault(
                "flyteadmin answers CreateExecution INTERNAL just before the deadline",
                base,
                fault_batch(),
                admin_behaves(just_before, create_fails_with=grpc.StatusCode.INTERNAL),
            )
        )
        rows.append(
            run_fault(
                "flyteadmin answers UNAVAILABLE at once",
                base,
                fault_batch(),
                admin_behaves(0.0, fail_with=grpc.StatusCode.UNAVAILABLE),
            )
        )
        healthy.servicer.reset()
        infinity = json.dumps({"Records": [s3_record(90)]}).replace('"size": 245760', '"size": Infinity')
        poison = [infinity, "[" * 100_000 + "]" * 100_000, "not json", json.dumps({"Records": [{"s3": 7}]})]
        rows.append(
            run_fault(
                "poison messages (Infinity, 100,000-deep JSON, ...) among 6 good", base, poison + fault_batch()[:6]
            )
        )
    finally:
        hole.stop()
        healthy.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=250)
    parser.add_argument("--deliveries", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "soak.json")
    args = parser.parse_args()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request at INFO
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")
        # Every upload the events name exists, as on AWS (the trigger reads each one's metadata with HeadObject).
        for event in [s3_record(index) for index in [*range(args.uploads), 10**6]] + [
            s3_record(index, folder) for folder in ("", "monet/") for index in range(10)
        ]:
            s3.put_object(Bucket=BUCKET, Key=event["s3"]["object"]["key"], Body=b"photo")
        print(f"redelivery storm: {args.uploads} uploads x {args.deliveries} deliveries, shuffled", flush=True)
        storm_result = storm(args.uploads, args.deliveries, endpoint)
        print("  " + json.dumps(storm_result), flush=True)
        print(f"faults: a 10-message SQS batch each, production deadlines, Lambda timeout {LAMBDA_TIMEOUT_S:.0f} s")
        fault_rows = faults(endpoint)
    finally:
        moto.stop()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": machine(), "storm": storm_result, "faults": fault_rows}, indent=2) + "\n"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
