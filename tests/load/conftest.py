"""The integration tests' fixtures (the deployed API, the backend), for the load test run on its own."""

from tests.integration.conftest import backend, deployed_api, outputs  # noqa: F401
