"""Builders for the events Lambda hands the functions, and a client that calls the handlers.

The events follow the API Gateway REST proxy (payload 1.0) and S3 notification formats, so
the handlers are exercised exactly as in AWS, through Powertools' routing and validation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext

from image_api import contract, delete_image, download, edit_image, get_image, list_images, upload
from image_processing import failures
from image_processing import handler as processing
from tests.unit.tokens import issuer

STAGE = "prod"
ACCOUNT_ID = "123456789012"
REGION: Final = "eu-west-1"

QueryParameters = Mapping[str, str | list[str]]


def lambda_context() -> LambdaContext:
    """The runtime's context object, with the attributes Powertools' logger reads."""
    context = LambdaContext()
    context._function_name = "image-service-test"
    context._memory_limit_in_mb = 256
    context._invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:image-service-test"
    context._aws_request_id = str(uuid.uuid4())
    return context


def rest_api_event(
    method: str,
    resource: str,
    *,
    path_parameters: Mapping[str, str] | None = None,
    query: QueryParameters | None = None,
    body: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, as API Gateway builds it for ``resource``."""
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    multi_query = {
        name: value if isinstance(value, list) else [value] for name, value in (query or {}).items()
    }
    all_headers = {"Host": "api.example.test", "User-Agent": "pytest", **(headers or {})}
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        # API Gateway puts the last value of a repeated parameter here, and all of them below.
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
            "path": f"/{STAGE}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTimeEpoch": 1772366400000,
            "resourceId": "abc123",
            "resourcePath": resource,
            "stage": STAGE,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def s3_object_created_event(bucket: str, key: str, size: int, etag: str | None = None) -> dict[str, Any]:
    """An S3 ObjectCreated notification; S3 URL-encodes the key (spaces as '+'), the ETag is bare."""
    event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-03-01T12:00:00.000Z",
                "eventName": "ObjectCreated:Post",
                "userIdentity": {"principalId": "AWS:EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "originals-created",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }
    if etag is not None:
        event["Records"][0]["s3"]["object"]["eTag"] = etag
    return event


def failure_destination_record(s3_event: dict[str, Any], error_message: str = "boom") -> dict[str, Any]:
    """What Lambda sends the on-failure destination once an asynchronous event failed every attempt."""
    return {
        "version": "1.0",
        "timestamp": "2026-03-01T12:00:05.000Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:processing:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": s3_event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": error_message, "errorType": "InjectedFaultError"},
    }


@dataclass(frozen=True)
class HttpResult:
    status_code: int
    headers: Mapping[str, Any]
    body: str | None

    def json(self) -> Any:
        assert self.body, f"expected a JSON body, got {self.body!r}"
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, str]:
        answer = self.json()
        assert set(answer) == {"error"}, answer
        error: dict[str, str] = answer["error"]
        assert set(error) == {"code", "message"}, error
        return error


def _call(
    handler: Callable[[dict[str, Any], LambdaContext], dict[str, Any]], event: dict[str, Any]
) -> HttpResult:
    response = handler(event, lambda_context())
    return HttpResult(
        status_code=int(response["statusCode"]),
        headers=response.get("multiValueHeaders") or response.get("headers") or {},
        body=response.get("body"),
    )


class ApiClient:
    """Calls each operation's handler the way API Gateway would, with this client's credentials.

    ``authorization`` is the Authorization header sent with every request (None: no header).
    """

    def __init__(self, *, authorization: str | None) -> None:
        self.authorization = authorization

    @classmethod
    def signed_in_as(cls, user: str) -> ApiClient:
        """A client with a valid token of the test issuer for ``user``."""
        return cls.with_token(issuer().token(user))

    @classmethod
    def with_token(cls, token: str) -> ApiClient:
        return cls(authorization=f"Bearer {token}")

    def as_user(self, user: str) -> ApiClient:
        return ApiClient.signed_in_as(user)

    def upload(
        self,
        query: QueryParameters | None = None,
        body: Any = None,
        *,
        raw_body: str | None = None,
        content_type: str = "application/json",
    ) -> HttpResult:
        """Body: ``body`` as JSON, or ``raw_body`` as given; the query string: ``query``."""
        text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        headers = {"Content-Type": content_type} if text is not None else {}
        return _call(
            upload.handler,
            rest_api_event("POST", "/images/upload", query=query, body=text, headers=self._headers(headers)),
        )

    def list(self, **query: str) -> HttpResult:
        return _call(
            list_images.handler, rest_api_event("GET", "/images", query=query, headers=self._headers())
        )

    def get(self, image_id: str, query: QueryParameters | None = None) -> HttpResult:
        return _call(get_image.handler, self._image_event("GET", "/images/{image_id}", image_id, query))

    def download(
        self, image_id: str, variant: str | None = None, query: QueryParameters | None = None
    ) -> HttpResult:
        """``variant``: sent as ``?variant=`` (None: left out, so the original is meant)."""
        parameters = {**(query or {}), **({"variant": variant} if variant is not None else {})}
        return _call(
            download.handler,
            self._image_event("GET", "/images/{image_id}/download", image_id, parameters or None),
        )

    def delete(self, image_id: str, query: QueryParameters | None = None) -> HttpResult:
        return _call(delete_image.handler, self._image_event("DELETE", "/images/{image_id}", image_id, query))

    def edit(
        self,
        image_id: str,
        body: Any = None,
        *,
        raw_body: str | None = None,
        content_type: str = "application/json",
        query: QueryParameters | None = None,
    ) -> HttpResult:
        """PATCH with ``body`` as JSON, or ``raw_body`` as given (neither: no body at all)."""
        text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        event = self._image_event("PATCH", "/images/{image_id}", image_id, query)
        event["body"] = text
        if text is not None:
            event["headers"]["Content-Type"] = content_type
            event["multiValueHeaders"]["Content-Type"] = [content_type]
        return _call(edit_image.handler, event)

    def openapi_document(self) -> HttpResult:
        return _call(contract.handler, rest_api_event("GET", "/openapi.json", headers=self._headers()))

    def _image_event(
        self, method: str, resource: str, image_id: str, query: QueryParameters | None
    ) -> dict[str, Any]:
        return rest_api_event(
            method, resource, path_parameters={"image_id": image_id}, query=query, headers=self._headers()
        )

    def _headers(self, headers: Mapping[str, str] | None = None) -> dict[str, str]:
        credentials = {"Authorization": self.authorization} if self.authorization is not None else {}
        return {**credentials, **(headers or {})}


def deliver_object_created(bucket: str, key: str, size: int, etag: str | None = None) -> None:
    processing.handler(s3_object_created_event(bucket, key, size, etag), lambda_context())


def deliver_processing_failure(bucket: str, key: str, size: int, etag: str | None = None) -> None:
    """Lambda giving up on the event for ``key``: the failure function gets its destination record."""
    failures.handler(
        failure_destination_record(s3_object_created_event(bucket, key, size, etag)), lambda_context()
    )


class FakeClock:
    """A settable clock that ticks one millisecond per reading, so successive uploads are ordered."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        reading = self.now
        self.now += timedelta(milliseconds=1)
        return reading

    def set(self, moment: datetime | str) -> None:
        self.now = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        if self.now.tzinfo is None:
            self.now = self.now.replace(tzinfo=UTC)
