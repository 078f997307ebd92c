"""The S3 upload trigger: turns S3 object-created events into Flyte neural-style-transfer executions.

Entry point: ``lambda_trigger.lambda_function.lambda_handler``, whose docstring lists the modules in order. What it
decides and why, every setting, the per-upload options and the failure semantics: the top-level README.md, section
"The S3 trigger (lambda_trigger/)".
"""
