"""One environment contract: the variables the constructs set are the ones the functions read."""

from __future__ import annotations

from aws_cdk.assertions import Template
from pydantic import BaseModel

from image_api.settings import AuthSettings, CorsSettings
from image_core import environment
from image_core.settings import Settings, TelemetrySettings
from image_reconcile.settings import ReconcileSettings

from .template_queries import resources

NAMES = {value for name, value in vars(environment).items() if name.isupper() and isinstance(value, str)}


def test_given_the_stack_then_every_function_variable_is_a_name_of_the_contract(
    local_template: Template, prod_template: Template
) -> None:
    for template in (local_template, prod_template):
        service_functions = [
            function
            for function in resources(template, "AWS::Lambda::Function").values()
            if str(function["Properties"].get("Handler", "")).startswith(
                ("image_api.", "image_processing.", "image_reconcile.")
            )
        ]
        assert len(service_functions) == 10
        for function in service_functions:
            assert set(function["Properties"]["Environment"]["Variables"]) <= NAMES


def test_given_the_functions_settings_then_they_read_only_names_of_the_contract() -> None:
    models: tuple[type[BaseModel], ...] = (
        Settings,
        TelemetrySettings,
        AuthSettings,
        CorsSettings,
        ReconcileSettings,
    )
    read = {field.validation_alias for model in models for field in model.model_fields.values()}

    # Every variable the functions read is named in the contract, and the contract names
    # nothing beyond what they read and what Powertools reads itself.
    assert read <= NAMES
    assert NAMES - read == {
        environment.POWERTOOLS_SERVICE_NAME,
        environment.POWERTOOLS_LOG_LEVEL,
        environment.POWERTOOLS_METRICS_NAMESPACE,
    }
