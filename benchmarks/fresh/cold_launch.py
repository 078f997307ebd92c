"""A new Lambda container's first launch: the handler module imported and one upload event handled:

    python -m benchmarks.fresh.cold_launch EVENT_JSON

prints the seconds from before the import to the launched execution (the environment says where S3 and
flyteadmin are)."""

from __future__ import annotations

import json
import sys
import time

started = time.perf_counter()  # before the handler's imports: they are the cold start being measured


class Context:
    aws_request_id, function_name, memory_limit_in_mb = "bench", "nst-trigger", 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:nst-trigger"


def main() -> None:
    import lambda_trigger.lambda_function as handler_module

    result = handler_module.lambda_handler(json.loads(sys.argv[1]), Context())
    if not result["launched"]:
        raise SystemExit(f"nothing launched: {result}")
    print(json.dumps(time.perf_counter() - started))


if __name__ == "__main__":
    main()
