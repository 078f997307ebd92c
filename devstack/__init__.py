"""The local event-driven stack: moto S3/SQS server, bucket wiring and the trigger worker, on one machine."""
