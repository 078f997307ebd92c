"""The web API's Lambda entry point: API Gateway's HTTP API events, through Mangum, to the one FastAPI app."""

from mangum import Mangum

from web.api import app

lambda_handler = Mangum(app, lifespan="off")
