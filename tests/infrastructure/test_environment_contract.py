"""One environment contract: the variables the constructs set are the ones the functions read."""

from __future__ import annotations

import dataclasses

from aws_cdk.assertions import Template
from pydantic import BaseModel

from image_api.settings import AuthSettings, CorsSettings
from image_core import environment
from image_core.environment import AuthMode
from image_core.schema import DEFAULT_LISTING_SHARDS, ListingLayout
from image_core.settings import Settings, TelemetrySettings
from image_reconcile.settings import ReconcileSettings
from stacks.settings import Authentication, stage_settings

from .conftest import synth_stack
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


def table_functions(template: Template) -> list[dict[str, str]]:
    """The environment of every function that reads or writes the table."""
    return [
        function["Properties"]["Environment"]["Variables"]
        for function in resources(template, "AWS::Lambda::Function").values()
        if environment.TABLE_NAME in function["Properties"].get("Environment", {}).get("Variables", {})
    ]


def test_given_the_stack_then_every_function_of_the_table_is_told_the_same_listing_layout(
    local_template: Template, prod_template: Template
) -> None:
    # Processing writes the index keys that the API's edits rewrite and its listings read, and
    # reconciliation takes them out: a function told another layout would list or lose items.
    for template in (local_template, prod_template):
        variables = table_functions(template)
        assert len(variables) == 9  # six API operations, processing, its failure destination, reconcile
        layouts = {
            (
                each[environment.LISTING_SHARDS],
                each[environment.LISTING_READ_SHARDS],
                each[environment.AUTH_MODE],
            )
            for each in variables
        }
        assert layouts == {(str(DEFAULT_LISTING_SHARDS), str(DEFAULT_LISTING_SHARDS), AuthMode.JWT.value)}


def test_given_shards_and_auth_off_in_the_stage_then_every_function_of_the_table_gets_them() -> None:
    settings = dataclasses.replace(
        stage_settings("local", authentication=Authentication(mode=AuthMode.NONE)),
        listing_shards=8,
        listing_read_shards=24,
    )

    template = Template.from_stack(synth_stack(settings))

    assert {
        (each[environment.LISTING_SHARDS], each[environment.LISTING_READ_SHARDS], each[environment.AUTH_MODE])
        for each in table_functions(template)
    } == {("8", "24", AuthMode.NONE.value)}
    # And the functions read that as: eight shards written, 24 read, the all-users indexes kept
    function_settings = Settings.model_validate(
        {**table_functions(template)[0], environment.TABLE_NAME: "t", environment.BUCKET_NAME: "b"}
    )
    assert function_settings.listing_layout == ListingLayout(shards=8, read_shards=24, all_users_indexes=True)
