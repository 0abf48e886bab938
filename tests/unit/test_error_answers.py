"""How failures reach callers: one error shape, safe messages, the right status."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from image_api import get_image
from tests.unit.conftest import Aws, UploadImage
from tests.unit.harness import ApiClient, HttpResult, lambda_context, rest_api_event


def raise_client_error(code: str, message: str) -> Any:
    def hook(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": message}}, "GetItem")

    return hook


def test_throttling_that_outlasts_retries_is_rate_limited(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given DynamoDB throttling reads
    image_id = available_image()
    aws.service_dynamodb.meta.events.register(
        "before-call.dynamodb.GetItem",
        raise_client_error("ProvisionedThroughputExceededException", "Rate of requests exceeds capacity"),
    )

    # When a client reads an image
    result = api.get(image_id)

    # Then it is asked to back off
    assert result.status_code == 429
    assert result.error["code"] == "rate_limited"


def test_an_unexpected_failure_is_a_bare_500_and_is_logged(
    api: ApiClient, aws: Aws, available_image: UploadImage, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an AWS failure nobody planned for, whose message holds internal details
    image_id = available_image()
    secret = "arn:aws:iam::123456789012:role/image-service-internal"
    aws.service_dynamodb.meta.events.register(
        "before-call.dynamodb.GetItem",
        raise_client_error("AccessDeniedException", f"{secret} is not authorized"),
    )

    # When a client reads an image
    result = api.get(image_id)

    # Then it learns nothing but that it failed
    assert result.status_code == 500
    assert result.error == {"code": "internal", "message": "internal error"}
    assert secret not in (result.body or "")
    # And the operators find the whole story in the log
    logged = [record for record in caplog.records if record.getMessage() == "Unhandled error"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert "AccessDeniedException" in str(logged[0].exc_info[1])


def test_an_unknown_route_is_not_found_in_the_error_shape(api: ApiClient) -> None:
    assert api.authorization is not None
    event = rest_api_event(
        "GET",
        "/images/{image_id}/thumbnail",
        path_parameters={"image_id": "0" * 32},
        headers={"Authorization": api.authorization},
    )

    response = get_image.handler(event, lambda_context())

    result = HttpResult(status_code=int(response["statusCode"]), headers={}, body=response["body"])
    assert result.status_code == 404
    assert result.error["code"] == "not_found"


def test_error_answers_are_json(api: ApiClient) -> None:
    result = api.get("nope")

    assert result.headers["Content-Type"] == ["application/json"]
