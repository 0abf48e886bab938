from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from image_core.environment import AuthMode
from stacks.settings import Authentication, TokenIssuer, stage_settings

from .conftest import DEV_ISSUER, PROD_ORIGINS, offline_app, synth_stack
from .template_queries import function_by_handler, only, resources, role_statements
from .test_image_api import API_GRANTS
from .test_image_service_stack import _violations

API_HANDLERS = sorted(API_GRANTS)
AUTH_VARIABLES = {
    "AUTH_MODE",
    "AUTH_ISSUER",
    "AUTH_AUDIENCE",
    "AUTH_JWKS_URL",
    "AUTH_JWKS",
    "AUTH_IDENTITY_CLAIM",
}
EXTERNAL = TokenIssuer(
    issuer="https://login.example.com/",
    audiences=("image-web", "image-cli"),
    jwks_url="https://login.example.com/.well-known/jwks.json",
    identity_claim="email",
)


def auth_variables(template: Template, handler: str) -> dict[str, object]:
    _, function = function_by_handler(template, handler)
    variables = function["Properties"]["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if name.startswith("AUTH_")}


# --- the local stage: the development issuer, no Cognito ----------------------------------------


def test_given_the_local_stage_when_synthesized_then_there_is_no_cognito(local_template: Template) -> None:
    assert resources(local_template, "AWS::Cognito::UserPool") == {}
    assert resources(local_template, "AWS::Cognito::UserPoolClient") == {}


@pytest.mark.parametrize("handler", API_HANDLERS)
def test_given_the_local_stage_when_synthesized_then_each_api_function_trusts_the_dev_issuers_keys_inline(
    local_template: Template, handler: str
) -> None:
    variables = auth_variables(local_template, handler)

    assert variables == {
        "AUTH_MODE": "jwt",
        "AUTH_ISSUER": DEV_ISSUER.issuer,
        "AUTH_AUDIENCE": "image-service",
        "AUTH_JWKS_URL": "",
        "AUTH_JWKS": DEV_ISSUER.jwks,
        "AUTH_IDENTITY_CLAIM": "sub",
    }
    # Public keys only: a private EC key would carry "d".
    assert all("d" not in key for key in json.loads(str(variables["AUTH_JWKS"]))["keys"])


@pytest.mark.parametrize("handler", ["image_processing.handler.handler", "image_processing.failures.handler"])
def test_given_the_local_stage_when_synthesized_then_the_processing_functions_get_no_auth_settings(
    local_template: Template, handler: str
) -> None:
    # Neither verifies tokens (nor bundles PyJWT): S3 and Lambda invoke them, never a caller. They
    # know the auth mode only because it says which indexes the table is written with.
    assert auth_variables(local_template, handler) == {"AUTH_MODE": "jwt"}


def test_given_the_local_stage_without_an_issuer_when_configured_then_it_asks_for_the_dev_issuer() -> None:
    with pytest.raises(ValueError, match=r"has no Cognito.*dev_issuer"):
        stage_settings("local")


# --- dev and prod: the stack's own Cognito user pool ---------------------------------------------


@pytest.mark.parametrize("template_fixture", ["dev_template", "prod_template"])
def test_given_dev_or_prod_when_synthesized_then_one_user_pool_and_one_public_client_exist(
    request: pytest.FixtureRequest, template_fixture: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)

    _, pool = only(template, "AWS::Cognito::UserPool")
    _, client = only(template, "AWS::Cognito::UserPoolClient")

    assert pool["Properties"]["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    client_properties = client["Properties"]
    assert client_properties["GenerateSecret"] is False
    # OAuth for the web gallery only: the authorization code flow (PKCE), never the implicit one
    assert client_properties["AllowedOAuthFlowsUserPoolClient"] is True
    assert client_properties["AllowedOAuthFlows"] == ["code"]
    assert client_properties["PreventUserExistenceErrors"] == "ENABLED"
    assert (client_properties["AccessTokenValidity"], client_properties["IdTokenValidity"]) == (60, 60)
    assert client_properties["TokenValidityUnits"]["AccessToken"] == "minutes"
    assert set(client_properties["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }


@pytest.mark.parametrize("template_fixture", ["dev_template", "prod_template"])
@pytest.mark.parametrize("handler", API_HANDLERS)
def test_given_dev_or_prod_when_synthesized_then_each_api_function_verifies_the_pools_tokens(
    request: pytest.FixtureRequest, template_fixture: str, handler: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)
    pool_id, _ = only(template, "AWS::Cognito::UserPool")
    client_id, _ = only(template, "AWS::Cognito::UserPoolClient")
    issuer = {"Fn::GetAtt": [pool_id, "ProviderURL"]}

    assert auth_variables(template, handler) == {
        "AUTH_MODE": "jwt",
        "AUTH_ISSUER": issuer,
        "AUTH_AUDIENCE": {"Ref": client_id},
        "AUTH_JWKS_URL": {"Fn::Join": ["", [issuer, "/.well-known/jwks.json"]]},
        "AUTH_JWKS": "",
        "AUTH_IDENTITY_CLAIM": "sub",
    }


@pytest.mark.parametrize("handler", API_HANDLERS)
def test_given_the_pool_when_synthesized_then_no_function_may_call_cognito(
    dev_template: Template, handler: str
) -> None:
    # Its JWKS is public: verifying tokens needs no permission, so none is granted.
    function_id, _ = function_by_handler(dev_template, handler)

    statements = role_statements(dev_template, function_id)

    assert not any(str(statement["Action"]).startswith("cognito") for statement in statements)


def test_given_prod_when_synthesized_then_the_users_are_kept_and_protected(prod_template: Template) -> None:
    _, pool = only(prod_template, "AWS::Cognito::UserPool")

    assert pool["DeletionPolicy"] == "Retain"
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"


def test_given_dev_when_synthesized_then_the_users_go_with_the_stack(dev_template: Template) -> None:
    _, pool = only(dev_template, "AWS::Cognito::UserPool")

    assert pool["DeletionPolicy"] == "Delete"
    assert pool["Properties"]["DeletionProtection"] == "INACTIVE"


def test_given_dev_when_synthesized_then_the_outputs_tell_a_client_how_to_sign_in(
    dev_template: Template,
) -> None:
    outputs = dev_template.to_json()["Outputs"]
    pool_id, _ = only(dev_template, "AWS::Cognito::UserPool")
    client_id, _ = only(dev_template, "AWS::Cognito::UserPoolClient")

    assert outputs["UserPoolId"]["Value"] == {"Ref": pool_id}
    assert outputs["UserPoolClientId"]["Value"] == {"Ref": client_id}
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}
    assert outputs["TokenIssuer"]["Value"] == {"Fn::GetAtt": [pool_id, "ProviderURL"]}
    assert outputs["AuthMode"]["Value"] == "jwt"


# --- another issuer, and no authentication -------------------------------------------------------


@pytest.fixture(scope="module")
def external_issuer_template() -> Template:
    return Template.from_stack(
        synth_stack(stage_settings("dev", authentication=Authentication(token_issuer=EXTERNAL)))
    )


def test_given_an_external_issuer_when_synthesized_then_no_user_pool_is_created(
    external_issuer_template: Template,
) -> None:
    assert resources(external_issuer_template, "AWS::Cognito::UserPool") == {}
    assert "UserPoolId" not in external_issuer_template.to_json()["Outputs"]


@pytest.mark.parametrize("handler", API_HANDLERS)
def test_given_an_external_issuer_when_synthesized_then_the_functions_verify_its_tokens(
    external_issuer_template: Template, handler: str
) -> None:
    assert auth_variables(external_issuer_template, handler) == {
        "AUTH_MODE": "jwt",
        "AUTH_ISSUER": "https://login.example.com/",
        "AUTH_AUDIENCE": "image-web,image-cli",
        "AUTH_JWKS_URL": "https://login.example.com/.well-known/jwks.json",
        "AUTH_JWKS": "",
        "AUTH_IDENTITY_CLAIM": "email",
    }


def test_given_an_external_issuer_in_the_app_context_when_built_then_the_functions_use_it() -> None:
    app = offline_app(
        stage="dev",
        auth_issuer=EXTERNAL.issuer,
        auth_audience="image-web, image-cli",
        auth_jwks_url=EXTERNAL.jwks_url,
        auth_identity_claim="email",
    )

    stack = cdk_app.build(app)

    assert stack.users is None
    assert auth_variables(Template.from_stack(stack), "image_api.get_image.handler")["AUTH_AUDIENCE"] == (
        "image-web,image-cli"
    )


def test_given_the_local_stage_with_auth_mode_none_when_synthesized_then_the_functions_verify_nothing() -> (
    None
):
    stack = synth_stack(stage_settings("local", authentication=Authentication(mode=AuthMode.NONE)))
    template = Template.from_stack(stack)

    assert resources(template, "AWS::Cognito::UserPool") == {}
    assert auth_variables(template, "image_api.upload.handler") == {"AUTH_MODE": "none"}
    assert template.to_json()["Outputs"]["AuthMode"]["Value"] == "none"
    assert _violations(stack) == []


def _aws_stage_context(stage: str) -> dict[str, str]:
    return {"stage": stage, "cors_origins": ",".join(PROD_ORIGINS)} if stage == "prod" else {"stage": stage}


# Both deploy to AWS, where anybody may reach the API: only the local stage may go without tokens.
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_given_a_stage_deployed_to_aws_with_auth_mode_none_when_the_app_is_built_then_synthesis_fails(
    stage: str,
) -> None:
    app = offline_app(**_aws_stage_context(stage), auth_mode="none")

    with pytest.raises(ValueError, match=f"stage '{stage}' must verify tokens"):
        cdk_app.build(app)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_given_a_stage_deployed_to_aws_with_the_dev_issuer_when_the_app_is_built_then_synthesis_fails(
    stage: str, dev_issuer_file: Path
) -> None:
    # Whoever holds the development issuer's key could sign in as anybody.
    app = offline_app(**_aws_stage_context(stage), dev_issuer=str(dev_issuer_file))

    with pytest.raises(ValueError, match="only issuers that publish a JWKS URL"):
        cdk_app.build(app)


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        pytest.param({"auth_mode": "open"}, "unknown auth_mode 'open'", id="unknown mode"),
        pytest.param(
            {"auth_issuer": "https://a.example/", "auth_jwks_url": "https://a.example/jwks"},
            "at least one audience",
            id="issuer without audience",
        ),
        pytest.param(
            {"auth_issuer": "https://a.example/", "auth_audience": "web"},
            "exactly one",
            id="issuer without keys",
        ),
        pytest.param(
            {"dev_issuer": "/nonexistent/issuer.json"}, "make dev-issuer", id="dev issuer file missing"
        ),
    ],
)
def test_given_incomplete_auth_context_when_the_app_is_built_then_it_fails_saying_what_is_missing(
    context: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        cdk_app.build(offline_app(stage="dev", **context))


def test_given_both_issuers_in_the_context_when_the_app_is_built_then_it_fails(dev_issuer_file: Path) -> None:
    app = offline_app(stage="dev", dev_issuer=str(dev_issuer_file), auth_issuer="https://a.example/")

    with pytest.raises(ValueError, match="either dev_issuer or auth_issuer"):
        cdk_app.build(app)


def test_given_an_oversized_inline_jwks_then_the_issuer_is_refused() -> None:
    # Lambda's environment is limited to 4 KB per function.
    with pytest.raises(ValueError, match="under 2048 bytes"):
        TokenIssuer(issuer="urn:x", audiences=("a",), jwks=json.dumps({"keys": [{"n": "x" * 3000}]}))
