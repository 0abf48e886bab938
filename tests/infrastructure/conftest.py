"""Synthesized stacks shared by the infrastructure tests.

Bundling is skipped (``aws:cdk:bundling-stacks`` empty): CDK then never calls the pip
bundler, so these tests need no network and take seconds. The feature flags are cdk.json's,
as in a real synth.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from app import cdk_json_context
from stacks.image_service_stack import ImageServiceStack
from stacks.settings import StageSettings, stage_settings

PROD_ORIGINS = ("https://images.example.com", "https://admin.example.com")


def offline_app(**context: Any) -> App:
    return App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": [], **context})


def synth_stack(settings: StageSettings) -> ImageServiceStack:
    return ImageServiceStack(offline_app(), settings.stack_name, settings=settings)


@pytest.fixture(scope="session")
def local_settings() -> StageSettings:
    return stage_settings("local")


@pytest.fixture(scope="session")
def prod_settings() -> StageSettings:
    return stage_settings("prod", cors_origins=PROD_ORIGINS)


@pytest.fixture(scope="session")
def local_stack(local_settings: StageSettings) -> ImageServiceStack:
    return synth_stack(local_settings)


@pytest.fixture(scope="session")
def prod_stack(prod_settings: StageSettings) -> ImageServiceStack:
    return synth_stack(prod_settings)


@pytest.fixture(scope="session")
def dev_stack() -> ImageServiceStack:
    return synth_stack(stage_settings("dev"))


@pytest.fixture(scope="session")
def local_template(local_stack: ImageServiceStack) -> Template:
    return Template.from_stack(local_stack)


@pytest.fixture(scope="session")
def prod_template(prod_stack: ImageServiceStack) -> Template:
    return Template.from_stack(prod_stack)


@pytest.fixture(scope="session")
def dev_template(dev_stack: ImageServiceStack) -> Template:
    return Template.from_stack(dev_stack)
