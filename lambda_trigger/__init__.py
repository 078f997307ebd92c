"""The S3 upload trigger: turns S3 object-created events into Flyte neural-style-transfer executions.

Entry point: ``lambda_trigger.lambda_function.lambda_handler``. See ``lambda_trigger/README.md``.
"""
