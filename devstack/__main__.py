"""``make demo`` and ``make dev``: the upload-to-result flow on one machine, no cloud account needed.

    python -m devstack demo [--content PHOTO] [--style STYLE]   one photo in, its stylized PNG out, then stop
    python -m devstack dev  [--port 5055] [--web-port 8080]      keep the stack up and serve the page; upload often
    python -m devstack web  [--port 5055] [--web-port 8080]      the same, printing only the page's address

The settings NST_VGG19_WEIGHTS, NST_EPOCHS, NST_STEPS_PER_EPOCH and NST_MAX_DIM pass through to the workflow.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from devstack.processes import terminate_on_sigterm
from devstack.progress_watcher import ProgressWatcher
from devstack.stack import REPO, LocalStack, StackError, StackSettings, describe_decks
from lambda_trigger.options import HELP
from lambda_trigger.rules import preview_key

if TYPE_CHECKING:
    from devstack.weights import LocalWeights

SAMPLES = REPO / "samples"
#: The style images ``make dev`` and ``make web`` put in the bucket, so the page offers more than one.
SAMPLE_STYLES = (SAMPLES / "swirls.jpg", SAMPLES / "mosaic.jpg")
#: A demo should finish in about a minute on a laptop CPU; the workflow's own defaults (5 x 100 steps at 512 px)
#: are for real runs. Any of these set in the environment wins.
DEMO_DEFAULTS = {"NST_EPOCHS": "2", "NST_STEPS_PER_EPOCH": "50", "NST_MAX_DIM": "256"}
PASS_THROUGH = ("NST_VGG19_WEIGHTS", "NST_EPOCHS", "NST_STEPS_PER_EPOCH", "NST_MAX_DIM")


def speaker(command: str) -> Callable[[str], None]:
    """Progress lines prefixed with the command that prints them: ``[demo]`` or ``[dev]``."""

    def say(message: str) -> None:
        print(f"[{command}] {message}", flush=True)

    return say


def workflow_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in PASS_THROUGH if os.environ.get(name)}
    return {**DEMO_DEFAULTS, **env}


def check_weights(say: Callable[[str], None], command: str) -> LocalWeights:
    """Fetch (once) or find the trained weights before anything starts, so a missing file fails in seconds and in
    one line; offline, the VGG16 stand-in (``devstack/weights.py``)."""
    from devstack import weights  # TensorFlow loads here, not for --help or a missing photo

    say(f"checking the VGG19 weights (NST_VGG19_WEIGHTS={os.environ.get('NST_VGG19_WEIGHTS') or 'imagenet'}) ...")
    chosen = weights.choose(command)
    if chosen.source.kind == "stand-in":
        say(f"offline: using the {chosen.note}")
    return chosen


def stopped(stack: LocalStack) -> str:
    if stack.temp_bytes_removed is None:
        return "stopped the worker and the server"
    return (
        f"stopped the worker and the server; removed their temporary files "
        f"({stack.temp_dir}, {stack.temp_bytes_removed / 2**20:.0f} MiB)"
    )


def demo(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    content, style = Path(args.content), Path(args.style)
    for label, path in (("content", content), ("style", style)):
        if not path.is_file():
            raise SystemExit(f"[demo] {label} image {path} does not exist")
    chosen = check_weights(say, "demo")
    settings = {**workflow_env(), **chosen.settings}
    say("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    stack = LocalStack(
        StackSettings(
            workdir=Path(args.workdir), decks=Path(args.out) / "decks", default_style=style, workflow_env=settings
        )
    )
    try:
        with stack:
            resources = stack.resources
            say(f"S3/SQS server on {resources.endpoint}; bucket {resources.bucket}; trigger worker running")
            say(f"temporary files go to {stack.temp_dir}, removed when the stack stops")
            key = f"{resources.upload_prefix}{content.name}"
            resources.s3().upload_file(str(content), resources.bucket, key)
            say(f"uploaded {content} to s3://{resources.bucket}/{key}; waiting for the trigger and the workflow ...")
            started = time.monotonic()
            kept: list[Path] = []

            def keep_preview(output_key: str) -> None:  # before the epochs overwrite it with the current image
                preview = download_preview(resources, output_key, Path(args.out))
                kept.extend([] if preview is None else [preview])

            progress = ProgressWatcher(resources.s3(), resources.bucket, resources.output_prefix, say, keep_preview)
            outcome = stack.wait_for_outcome(key, args.timeout, while_waiting=progress.poll)
            if outcome["outcome"] != "launched":
                detail = outcome.get("reason") or outcome.get("error")
                say(f"no result for s3://{resources.bucket}/{key}: {outcome['outcome']}: {detail}")
                return 1
            output_key = outcome["output_uri"].split(f"s3://{resources.bucket}/", 1)[1]
            local = Path(args.out) / Path(output_key).name
            local.parent.mkdir(parents=True, exist_ok=True)
            resources.s3().download_file(resources.bucket, output_key, str(local))
            say(f"done in {time.monotonic() - started:.0f} s")
    finally:
        if stack.started:
            say(stopped(stack))
    print(f"result in the bucket: s3://{resources.bucket}/{output_key}")
    print(f"result on disk:       {local.resolve()}")
    if kept:
        print(f"preview on disk:      {kept[0].resolve()} (the instant feed-forward preview, kept beside the result)")
    if outcome.get("decks"):
        print(f"Decks (a browser):    {describe_decks(outcome['decks'])}")
    if chosen.note:
        print(f"weights:              {chosen.note}")
    return 0


def download_preview(resources: Any, output_key: str, out: Path) -> Path | None:
    """The run's instant preview, downloaded beside where its result will be, the moment it is ready (the epochs
    then overwrite that key with their current image, and the bucket goes with the stack); None when it is not
    there."""
    key = preview_key(output_key)
    local = out / Path(key).name
    local.parent.mkdir(parents=True, exist_ok=True)
    try:
        resources.s3().download_file(resources.bucket, key, str(local))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise
    return local


def dev(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    """``make dev`` and ``make web``: the stack kept running, the page served; ``web`` prints only the page's
    address and how to stop."""
    chosen = check_weights(say, args.command)
    settings = {**workflow_env(), **chosen.settings}
    style = Path(args.style)
    stack = LocalStack(
        StackSettings(
            workdir=Path(args.workdir),
            port=args.port,
            decks=Path(args.out) / "decks",
            default_style=style,
            workflow_env=settings,
            max_runs=args.max_runs,
            web_port=args.web_port,
            extra_styles=tuple(path for path in SAMPLE_STYLES if path.name != style.name),
        )
    )
    try:
        with stack:
            if args.command == "web":
                say(f"the page: {stack.web_url} (its log: {stack.web_log}); Ctrl-C stops it and the stack")
            else:
                print(dev_instructions(stack, style, settings, chosen.note), flush=True)
            r = stack.resources
            progress = ProgressWatcher(r.s3(), r.bucket, r.output_prefix, say)
            while True:
                stack.check_alive()
                progress.poll()
                time.sleep(0.5)
    finally:
        if stack.started:
            say(stopped(stack))


#: The per-upload metadata keys, as ``make dev`` prints them (the rule and the table: lambda_trigger/options.py).
METADATA_HELP = "\n".join(f"  {key:<20} {text}" for key, text in HELP.items())


def dev_instructions(stack: LocalStack, style: Path, settings: dict[str, str], weights_note: str) -> str:
    r = stack.resources
    python = Path(sys.executable).relative_to(REPO) if Path(sys.executable).is_relative_to(REPO) else sys.executable
    client = (
        f"import boto3; s3 = boto3.client('s3', endpoint_url='{r.endpoint}', region_name='us-east-1', "
        "aws_access_key_id='testing', aws_secret_access_key='testing')"
    )
    weights_line = f"\n  weights              {weights_note}" if weights_note else ""
    return f"""
The local stack is up (Ctrl-C stops it):
  the page             {stack.web_url}  (open it in a browser: upload a photo, pick a style, watch it paint)
  S3 and SQS endpoint  {r.endpoint}
  bucket               {r.bucket}: upload to {r.upload_prefix}, results appear in {r.output_prefix}
  default style        {r.style_prefix}{style.name}; settings {", ".join(f"{k}={v}" for k, v in sorted(settings.items()))}
  Decks                {stack.decks}/<execution name>/deck-N.html, one folder per run (open in a browser)
  logs                 {stack.trigger_log} (the trigger's JSON lines), {stack.outcomes_path}, {stack.web_log}
  temporary files      {stack.temp_dir} (removed when the stack stops){weights_line}

Upload a photo with boto3:
  {python} -c "{client}; s3.upload_file('photo.jpg', '{r.bucket}', '{r.upload_prefix}photo.jpg')"
or with the AWS CLI, in a shell that has these set first (moto takes any keys; these keep real ones out of it):
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url {r.endpoint} s3 cp photo.jpg s3://{r.bucket}/{r.upload_prefix}
Add a style and use it by folder ({r.upload_prefix}<style>/photo.jpg uses {r.style_prefix}<style>.jpg):
  aws --endpoint-url {r.endpoint} s3 cp monet.jpg s3://{r.bucket}/{r.style_prefix}monet.jpg
  aws --endpoint-url {r.endpoint} s3 cp photo.jpg s3://{r.bucket}/{r.upload_prefix}monet/
Choose options for one upload with S3 metadata (x-amz-meta-nst-*; README "Per-upload options"):
  aws --endpoint-url {r.endpoint} s3 cp photo.jpg s3://{r.bucket}/{r.upload_prefix} \\
      --metadata '{{"nst-styles": "monet:0.7,{style.stem}:0.3", "nst-preserve-colors": "luminance", "nst-seed": "7"}}'
{METADATA_HELP}
Fetch the results:
  aws --endpoint-url {r.endpoint} s3 sync s3://{r.bucket}/{r.output_prefix} out/

Each upload's outcome is printed below as soon as it is known: skips and refusals at once, each run
("started") in a process of its own, up to {stack.max_runs} at a time, and "done" or "failed" when it ends.
"""


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="stylize one photo through the whole event-driven flow, then stop")
    run_demo.add_argument("--content", default=str(SAMPLES / "landscape.jpg"))
    run_demo.add_argument("--style", default=str(SAMPLES / "swirls.jpg"))
    run_demo.add_argument("--out", default="out", help="folder for the downloaded result and OUT/decks/")
    run_demo.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the result")
    run_demo.add_argument("--workdir", default="out/devstack", help="logs and the outcome journal")
    for name, text in (
        ("dev", "keep the stack running, serve the page, and stylize every upload"),
        ("web", "the same stack and page, printing only the page's address"),
    ):
        run_dev = commands.add_parser(name, help=text)
        run_dev.add_argument("--port", type=int, default=5055)
        run_dev.add_argument("--web-port", type=int, default=8080, help="the page and its API (0: a free port)")
        run_dev.add_argument("--style", default=str(SAMPLES / "swirls.jpg"), help="the default style")
        run_dev.add_argument("--out", default="out", help="each run's Decks go to OUT/decks/<execution name>/")
        run_dev.add_argument("--workdir", default="out/devstack")
        run_dev.add_argument(
            "--max-runs",
            type=_at_least_one,
            default=None,
            help=f"runs at a time, each in a process of its own (default: the cores, {os.cpu_count()})",
        )
    args = parser.parse_args(argv)
    say = speaker(args.command)
    terminate_on_sigterm()
    try:
        return demo(args, say) if args.command == "demo" else dev(args, say)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except (StackError, TimeoutError) as exc:
        print(f"[{args.command}] {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
