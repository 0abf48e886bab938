"""Synthesized stacks shared by the infrastructure tests.

Bundling is skipped (``aws:cdk:bundling-stacks`` empty): CDK then never calls the pip
bundler, so these tests need no network and take seconds. The feature flags are cdk.json's,
as in a real synth.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from app import cdk_json_context
from stacks.image_service_stack import ImageServiceStack
from stacks.settings import Authentication, StageSettings, TokenIssuer, stage_settings

PROD_ORIGINS = ("https://images.example.com", "https://admin.example.com")

# A development issuer as the local stage gets it: its public JWKS inline (a key made for the run).
DEV_ISSUER_JWKS = {
    "keys": [
        {
            **ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True),
            "kid": "infrastructure-test",
            "use": "sig",
            "alg": "ES256",
        }
    ]
}
DEV_ISSUER = TokenIssuer(
    issuer="urn:image-service:local-dev-issuer",
    audiences=("image-service",),
    jwks=json.dumps(DEV_ISSUER_JWKS),
)
LOCAL_AUTHENTICATION = Authentication(token_issuer=DEV_ISSUER)


def _stand_in_site() -> Path:
    """A minimal built gallery, so that synthesis needs neither a network nor ``npm run build``."""
    site = Path(tempfile.mkdtemp(prefix="gallery-stand-in-"))
    (site / "index.html").write_text("<!doctype html><title>gallery stand-in</title>\n")
    return site


GALLERY_STAND_IN = _stand_in_site()


def offline_app(**context: Any) -> App:
    return App(
        context={
            **cdk_json_context(),
            "aws:cdk:bundling-stacks": [],
            "gallery_site": str(GALLERY_STAND_IN),
            **context,
        }
    )


def synth_stack(settings: StageSettings) -> ImageServiceStack:
    return ImageServiceStack(
        offline_app(),
        settings.stack_name,
        settings=settings,
        gallery_site=GALLERY_STAND_IN if settings.web_gallery else None,
    )


@pytest.fixture(scope="session")
def dev_issuer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``issuer.json`` as ``localcloud/dev_issuer.py`` writes it, for ``-c dev_issuer=...``."""
    path = tmp_path_factory.mktemp("dev-issuer") / "issuer.json"
    path.write_text(
        json.dumps({"issuer": DEV_ISSUER.issuer, "audience": "image-service", "jwks": DEV_ISSUER_JWKS})
    )
    return path


@pytest.fixture(scope="session")
def local_settings() -> StageSettings:
    return stage_settings("local", authentication=LOCAL_AUTHENTICATION)


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
