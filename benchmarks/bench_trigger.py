"""Measure (not assert) the trigger's cold start and per-record latency.

    .venv/bin/python -m benchmarks.bench_trigger [--imports 15] [--colds 5] [--records 200] [--out PATH]

* cold import: a fresh interpreter running ``import lambda_trigger.lambda_function`` (what Lambda's init phase
  does), median over ``--imports`` runs;
* cold first launch: a fresh interpreter that imports the handler and handles one upload in remote mode against
  the in-process fake flyteadmin (flytekit import, FlyteRemote, launch plan fetch and one CreateExecution);
* warm per record: one single-record invocation after another in one process, in dry-run mode and in remote mode
  against the fake flyteadmin over real gRPC on loopback; median and p95 over ``--records`` uploads.

Uploads sit directly under ``uploads/`` and use NST_STYLE_URI, so the one S3 call of a remote record is the
HeadObject that reads its per-upload options, answered by moto's S3 server on loopback (the objects are put there
before the clock starts). Log lines are written (to /dev/null) as in production, since formatting them is part of
the per-record cost.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, machine, percentile, run_fresh


def upload_event(index: int, run: str) -> dict[str, Any]:
    """One S3 notification record for a distinct upload (distinct sequencer: a distinct execution name)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2024-05-14T09:21:36.512Z",
                "s3": {
                    "bucket": {"name": "nst-bench"},
                    "object": {
                        "key": f"uploads/bench-{run}-photo+{index}.jpg",
                        "size": 245760,
                        "eTag": f"{index:032x}",
                        "sequencer": f"{run}{index:016X}",
                    },
                },
            }
        ]
    }


def summarise(seconds: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in seconds]
    return {"n": len(ms), "median_ms": statistics.median(ms), "p95_ms": percentile(ms, 0.95), "max_ms": max(ms)}


def cold_import(runs: int, env: dict[str, str]) -> dict[str, float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import lambda_trigger.lambda_function"], cwd=REPO, env=env, check=True)
        timings.append(time.perf_counter() - started)
    return summarise(timings)


#: moto's S3 server on loopback, started by main().
S3_ENDPOINT = ""


def put_uploads(events: list[dict[str, Any]]) -> None:
    """Put each event's upload in moto's S3 before the clock starts (remote mode reads each one's metadata)."""
    import boto3

    from tests.fakes import stage_uploads

    client = boto3.client(
        "s3",
        endpoint_url=S3_ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for event in events:
        stage_uploads(client, event)


def cold_first_launch(runs: int, env: dict[str, str], endpoint: str) -> dict[str, float]:
    timings = []
    for index in range(runs):
        event = upload_event(index, f"C{time.time_ns() % 10**8}")
        put_uploads([event])
        launch_env = {**env, "FLYTE_PLATFORM_URL": endpoint, "FLYTE_PLATFORM_INSECURE": "true"}
        with tempfile.TemporaryDirectory() as scratch:
            seconds, _, _ = run_fresh("cold_launch", json.dumps(event), scratch=scratch, environ=launch_env)
        timings.append(float(seconds))
    return summarise(timings)


#: Where the handler's log lines go; opened once, because powertools keeps the stream of the first Logger set up.
LOG_SINK = open(os.devnull, "w")  # noqa: SIM115


def warm(records: int, env: dict[str, str]) -> dict[str, float]:
    """Per-record latency of ``lambda_handler`` in this process, after one warm-up invocation."""
    from tests.fakes import LambdaContextStub

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(LOG_SINK):
            sys.modules.pop("lambda_trigger.lambda_function", None)
            module = importlib.import_module("lambda_trigger.lambda_function")  # the logger binds to the sink
            handle: Callable[[dict[str, Any]], dict[str, Any]] = module.lambda_handler
            context = LambdaContextStub()
            run = f"W{time.time_ns() % 10**8}"
            if env.get("NST_LAUNCH_MODE") == "remote":
                put_uploads([upload_event(index, run) for index in range(-1, records)])
            result = handle(upload_event(-1, run), context)
            assert result["launched"], result
            timings = []
            for index in range(records):
                event = upload_event(index, run)
                started = time.perf_counter()
                result = handle(event, context)
                timings.append(time.perf_counter() - started)
                assert result["launched"] and not result["launched"][0]["duplicate"], result
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return summarise(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--imports", type=int, default=15, help="cold import runs")
    parser.add_argument("--colds", type=int, default=5, help="cold first-launch runs")
    parser.add_argument("--records", type=int, default=200, help="warm records per mode")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "trigger.json")
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    from tests.fakes import FakeFlyteAdmin, start_admin

    s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3_server.start()
    host, port = s3_server.get_host_and_port()
    global S3_ENDPOINT
    S3_ENDPOINT = s3_endpoint = f"http://{host}:{port}"
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NST_", "FLYTE_", "FLYTECTL_", "AWS_ENDPOINT"))
    }
    base.update(
        {
            "PYTHONPATH": str(REPO),
            "NST_STYLE_URI": "s3://nst-bench/styles/default.jpg",
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    dry_run = {**base, "NST_LAUNCH_MODE": "dry-run"}
    remote = {**base, "NST_LAUNCH_MODE": "remote"}

    admin = start_admin(FakeFlyteAdmin())
    try:
        remote_warm_env = {**remote, "FLYTE_PLATFORM_URL": admin.endpoint, "FLYTE_PLATFORM_INSECURE": "true"}
        results = {
            "cold_import_dry_run": cold_import(args.imports, dry_run),
            "cold_import_remote": cold_import(args.imports, remote),
            "cold_first_launch_remote": cold_first_launch(args.colds, remote, admin.endpoint),
            "warm_record_dry_run": warm(args.records, dry_run),
            "warm_record_remote": warm(args.records, remote_warm_env),
        }
    finally:
        admin.stop()
        s3_server.stop()

    described = machine()
    print(f"trigger benchmark: Python {described['python']}, {described['cores']} cores, {described['platform']}")
    print(f"{'measure':<28}{'n':>5}{'median ms':>12}{'p95 ms':>10}{'max ms':>10}")
    for name, row in results.items():
        print(f"{name:<28}{row['n']:>5}{row['median_ms']:>12.2f}{row['p95_ms']:>10.2f}{row['max_ms']:>10.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": described, "results": results}, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
