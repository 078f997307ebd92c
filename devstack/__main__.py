"""``make demo`` and ``make dev``: the upload-to-result flow on one machine, no cloud account needed.

    python -m devstack demo [--content PHOTO] [--style STYLE]   one photo in, its stylized PNG out, then stop
    python -m devstack dev  [--port 5055]                        keep the stack up; upload as often as you like

The settings NST_VGG19_WEIGHTS, NST_EPOCHS, NST_STEPS_PER_EPOCH and NST_MAX_DIM pass through to the workflow.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from devstack.processes import terminate_on_sigterm
from devstack.stack import REPO, LocalStack, StackError, StackSettings

SAMPLES = REPO / "samples"
#: A demo should finish in about a minute on a laptop CPU; the workflow's own defaults (5 x 100 steps at 512 px)
#: are for real runs. Any of these set in the environment wins.
DEMO_DEFAULTS = {"NST_EPOCHS": "2", "NST_STEPS_PER_EPOCH": "50", "NST_MAX_DIM": "256"}
PASS_THROUGH = ("NST_VGG19_WEIGHTS", "NST_EPOCHS", "NST_STEPS_PER_EPOCH", "NST_MAX_DIM")


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def workflow_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in PASS_THROUGH if os.environ.get(name)}
    return {**DEMO_DEFAULTS, **env}


def check_weights() -> None:
    """Fetch (once) or find the VGG19 weights before anything starts, so a missing file fails in seconds."""
    setting = os.environ.get("NST_VGG19_WEIGHTS") or "imagenet"
    say(f"checking the VGG19 weights (NST_VGG19_WEIGHTS={setting}) ...")
    from workflows.vgg19_features import WeightsUnavailableError, feature_extractor, weights_from_env

    try:
        feature_extractor(weights_from_env())
    except WeightsUnavailableError as exc:
        raise SystemExit(
            f"[demo] {exc}\n[demo] offline? `make demo NST_VGG19_WEIGHTS=random` runs without them "
            "(the output is then not a real stylization)"
        ) from None


def demo(args: argparse.Namespace) -> int:
    content, style = Path(args.content), Path(args.style)
    for label, path in (("content", content), ("style", style)):
        if not path.is_file():
            raise SystemExit(f"[demo] {label} image {path} does not exist")
    check_weights()
    settings = workflow_env()
    say("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    stack_settings = StackSettings(workdir=Path(args.workdir), default_style=style, workflow_env=settings)
    with LocalStack(stack_settings) as stack:
        resources = stack.resources
        say(f"S3/SQS server on {resources.endpoint}; bucket {resources.bucket}; trigger worker running")
        key = f"{resources.upload_prefix}{content.name}"
        resources.s3().upload_file(str(content), resources.bucket, key)
        say(f"uploaded {content} to s3://{resources.bucket}/{key}; waiting for the trigger and the workflow ...")
        started = time.monotonic()
        outcome = stack.wait_for_outcome(key, args.timeout)
        if outcome["outcome"] != "launched":
            detail = outcome.get("reason") or outcome.get("error")
            say(f"no result for s3://{resources.bucket}/{key}: {outcome['outcome']}: {detail}")
            return 1
        output_key = outcome["output_uri"].split(f"s3://{resources.bucket}/", 1)[1]
        local = Path(args.out) / Path(output_key).name
        local.parent.mkdir(parents=True, exist_ok=True)
        resources.s3().download_file(resources.bucket, output_key, str(local))
        say(f"done in {time.monotonic() - started:.0f} s")
        print(f"result in the bucket: s3://{resources.bucket}/{output_key}")
        print(f"result on disk:       {local.resolve()}")
    say("stopped the worker and the server")
    return 0


def dev(args: argparse.Namespace) -> int:
    check_weights()
    settings = workflow_env()
    stack_settings = StackSettings(
        workdir=Path(args.workdir), port=args.port, default_style=Path(args.style), workflow_env=settings
    )
    with LocalStack(stack_settings) as stack:
        r = stack.resources
        python = Path(sys.executable).relative_to(REPO) if Path(sys.executable).is_relative_to(REPO) else sys.executable
        client = (
            f"import boto3; s3 = boto3.client('s3', endpoint_url='{r.endpoint}', region_name='us-east-1', "
            "aws_access_key_id='testing', aws_secret_access_key='testing')"
        )
        print(
            f"""
The local stack is up (Ctrl-C stops it):
  S3 and SQS endpoint  {r.endpoint}
  bucket               {r.bucket}: upload to {r.upload_prefix}, results appear in {r.output_prefix}
  default style        {r.style_prefix}{Path(args.style).name}; settings {", ".join(f"{k}={v}" for k, v in sorted(settings.items()))}

Upload a photo:
  {python} -c "{client}; s3.upload_file('photo.jpg', '{r.bucket}', '{r.upload_prefix}photo.jpg')"
  aws --endpoint-url {r.endpoint} s3 cp photo.jpg s3://{r.bucket}/{r.upload_prefix}        (with the AWS CLI)
Add a style and use it by folder ({r.upload_prefix}<style>/photo.jpg uses {r.style_prefix}<style>.jpg):
  aws --endpoint-url {r.endpoint} s3 cp monet.jpg s3://{r.bucket}/{r.style_prefix}monet.jpg
  aws --endpoint-url {r.endpoint} s3 cp photo.jpg s3://{r.bucket}/{r.upload_prefix}monet/
Fetch the results:
  aws --endpoint-url {r.endpoint} s3 sync s3://{r.bucket}/{r.output_prefix} out/
(the AWS CLI needs any credentials, e.g. AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)

Each upload's outcome is printed below as the trigger handles it.
""",
            flush=True,
        )
        while True:
            stack.check_alive()
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="stylize one photo through the whole event-driven flow, then stop")
    run_demo.add_argument("--content", default=str(SAMPLES / "landscape.jpg"))
    run_demo.add_argument("--style", default=str(SAMPLES / "swirls.jpg"))
    run_demo.add_argument("--out", default="out", help="folder for the downloaded result")
    run_demo.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the result")
    run_demo.add_argument("--workdir", default="out/devstack", help="logs and the outcome journal")
    run_dev = commands.add_parser("dev", help="keep the stack running and stylize every upload")
    run_dev.add_argument("--port", type=int, default=5055)
    run_dev.add_argument("--style", default=str(SAMPLES / "swirls.jpg"), help="the default style")
    run_dev.add_argument("--workdir", default="out/devstack")
    args = parser.parse_args(argv)
    terminate_on_sigterm()
    try:
        return demo(args) if args.command == "demo" else dev(args)
    except KeyboardInterrupt:
        print("\n[demo] interrupted; stopped the worker and the server", flush=True)
        return 130
    except (StackError, TimeoutError) as exc:
        print(f"[demo] {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
