"""Unit test fixtures: moto's in-memory AWS, with the table built from ``image_core.schema``.

The table's keys and indexes come from the same definitions the CDK construct uses, so the
mock cannot drift from the infrastructure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from moto import mock_aws

from image_api import delete_image, dependencies, download, edit_image, get_image, list_images, upload
from image_api.settings import get_auth_settings
from image_api.use_cases import ImageService
from image_core import schema
from image_core.repository import ImageRepository
from image_core.settings import get_settings, get_telemetry_settings
from image_core.storage import ImageStorage, presigning_client
from image_processing import dependencies as processing_dependencies
from image_processing.upload_processor import UploadProcessor
from tests import images
from tests.unit import tokens
from tests.unit.harness import REGION, ApiClient, FakeClock, deliver_object_created

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

TABLE_NAME = "image-metadata-test"
BUCKET_NAME = "image-originals-test"
# Deliberately not the defaults, so the tests prove the environment is what is read.
MAX_UPLOAD_BYTES = 5_000_000
UPLOAD_URL_EXPIRES_SECONDS = 600
DOWNLOAD_URL_EXPIRES_SECONDS = 120
PENDING_GRACE_SECONDS = 1800
MAX_IMAGE_PIXELS = 40_000_000
FAULT_TAG = "inject-failure"
LISTING_SHARDS = 4

_API_MODULES = (upload, list_images, get_image, edit_image, download, delete_image)

# One session for every test client: a session caches the parsed service models, which makes a
# client cost milliseconds instead of the ~100 ms a fresh default session costs under moto.
boto_session = boto3.session.Session()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The variables the CDK constructs set, fake credentials, and no way out to real AWS.

    Tokens are verified against the test issuer's keys, given inline like the local
    development issuer's (``test_authentication`` also serves them from a JWKS URL).
    """
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "TABLE_NAME": TABLE_NAME,
        "BUCKET_NAME": BUCKET_NAME,
        "S3_PUBLIC_ENDPOINT": "",
        "UPLOAD_URL_EXPIRES_SECONDS": str(UPLOAD_URL_EXPIRES_SECONDS),
        "DOWNLOAD_URL_EXPIRES_SECONDS": str(DOWNLOAD_URL_EXPIRES_SECONDS),
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "PENDING_GRACE_SECONDS": str(PENDING_GRACE_SECONDS),
        "MAX_IMAGE_PIXELS": str(MAX_IMAGE_PIXELS),
        "PROCESSING_FAULT_TAG": FAULT_TAG,
        "AUTH_MODE": "jwt",
        # Deliberately not the default: a handful of shards, every one of them used by a gallery.
        "LISTING_SHARDS": str(LISTING_SHARDS),
        "AUTH_ISSUER": tokens.ISSUER,
        "AUTH_AUDIENCE": tokens.AUDIENCE,
        "AUTH_JWKS_URL": "",
        "AUTH_JWKS": json.dumps(tokens.issuer().jwks()),
        "POWERTOOLS_SERVICE_NAME": "image-service",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "ImageService",
        # As on the local cloud; test_telemetry traces.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    _forget_warm_container_state()
    yield
    _forget_warm_container_state()


# What a warm container keeps between invocations; captured here because tests replace some.
_WARM_CONTAINER_CACHES = (
    get_settings,
    get_telemetry_settings,
    get_auth_settings,
    dependencies.image_service,
    dependencies.token_verifier,
    processing_dependencies.upload_processor,
)


def _forget_warm_container_state() -> None:
    for cached in _WARM_CONTAINER_CACHES:
        cached.cache_clear()


@dataclass
class Aws:
    # For the tests' own setup and inspection.
    dynamodb: DynamoDBClient
    s3: S3Client
    # The clients injected into the service; every DynamoDB call it makes is recorded.
    service_dynamodb: DynamoDBClient
    service_s3: S3Client
    # (operation, parameters) of every DynamoDB call the service made.
    dynamodb_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def table_items(self) -> list[dict[str, Any]]:
        """Every item in the table, as plain values (a test may scan; the service never does)."""
        items = self.dynamodb.scan(TableName=TABLE_NAME, ConsistentRead=True)["Items"]
        deserializer = TypeDeserializer()
        return [{name: deserializer.deserialize(value) for name, value in item.items()} for item in items]

    def item(self, image_id: str, sort_key: str = schema.IMAGE_SORT_KEY) -> dict[str, Any] | None:
        key = {schema.PARTITION_KEY: schema.image_partition(image_id), schema.SORT_KEY: sort_key}
        return next(
            (item for item in self.table_items() if all(item[name] == value for name, value in key.items())),
            None,
        )

    def mark_deleting(self, image_id: str) -> None:
        """The state a DELETE that failed part-way leaves behind."""
        self.dynamodb.update_item(
            TableName=TABLE_NAME,
            Key={
                schema.PARTITION_KEY: {"S": schema.image_partition(image_id)},
                schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
            },
            UpdateExpression="SET #status = :deleting",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":deleting": {"S": "deleting"}},
        )

    def object_keys(self) -> list[str]:
        return [entry["Key"] for entry in self.s3.list_objects_v2(Bucket=BUCKET_NAME).get("Contents", [])]

    def variant_keys(self, image_id: str) -> list[str]:
        """Every variant object of the image, of whatever revision."""
        return [key for key in self.object_keys() if key.startswith(schema.variants_prefix(image_id))]

    def original_keys(self, image_id: str) -> list[str]:
        """Every original of the image that downloads could serve, of whatever revision."""
        return [key for key in self.object_keys() if key.startswith(schema.originals_prefix(image_id))]

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET_NAME, Key=key)["Body"].read()

    def put(self, key: str, data: bytes, content_type: str = "image/png") -> str:
        """Store an object as a client's upload would; its ETag (unquoted, as events carry it)."""
        response = self.s3.put_object(Bucket=BUCKET_NAME, Key=key, Body=data, ContentType=content_type)
        return response["ETag"].strip('"')

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.dynamodb_calls if name == operation]


def create_metadata_table(client: DynamoDBClient) -> None:
    key_attributes = [
        schema.PARTITION_KEY,
        schema.SORT_KEY,
        schema.LISTED_AT,
        schema.DUPLICATES.partition_key,
    ]
    key_attributes += [index.partition_key for index in schema.LIST_INDEXES]
    client.create_table(
        TableName=TABLE_NAME,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in key_attributes],
        KeySchema=[
            {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            *(
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.partition_key, "KeyType": "HASH"},
                        {"AttributeName": schema.LISTED_AT, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in schema.LIST_INDEXES
            ),
            {
                "IndexName": schema.DUPLICATES.name,
                "KeySchema": [
                    {"AttributeName": schema.DUPLICATES.partition_key, "KeyType": "HASH"},
                    {"AttributeName": schema.LISTED_AT, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(schema.DUPLICATES.projected),
                },
            },
        ],
    )


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        dynamodb = boto_session.client("dynamodb")
        s3 = boto_session.client("s3")
        create_metadata_table(dynamodb)
        s3.create_bucket(Bucket=BUCKET_NAME, CreateBucketConfiguration={"LocationConstraint": REGION})
        recorded = Aws(
            dynamodb=dynamodb,
            s3=s3,
            service_dynamodb=boto_session.client("dynamodb"),
            service_s3=boto_session.client("s3"),
        )

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            recorded.dynamodb_calls.append((model.name, params))

        recorded.service_dynamodb.meta.events.register("before-parameter-build.dynamodb.*", record)
        # Last, so that a test's own hook replacing the source runs before the check.
        recorded.service_s3.meta.events.register_last("before-call.s3.CopyObject", _copy_source_if_match(s3))
        yield recorded


def _copy_source_if_match(s3: S3Client) -> Callable[..., None]:
    """S3's CopySourceIfMatch, which moto (5.2) ignores: a copy of a source whose ETag is not the
    one named fails with 412 PreconditionFailed. (The local cloud honours it; so does S3.)"""

    def check(params: dict[str, Any], **_: Any) -> None:
        expected = params.get("headers", {}).get("x-amz-copy-source-if-match")
        if expected is None:
            return
        bucket, _, key = unquote(params["headers"]["x-amz-copy-source"]).lstrip("/").partition("/")
        try:
            etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        except ClientError:
            return  # moto answers a missing source itself (NoSuchKey)
        if etag.strip('"') != expected.strip('"'):
            raise ClientError(
                {
                    "Error": {
                        "Code": "PreconditionFailed",
                        "Message": "At least one of the pre-conditions you specified did not hold",
                    }
                },
                "CopyObject",
            )

    return check


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def service(aws: Aws, clock: FakeClock) -> ImageService:
    """The service wired to the recorded moto clients, the way the handlers wire theirs."""
    return ImageService(
        repository=ImageRepository(aws.service_dynamodb, TABLE_NAME, get_settings().listing_layout),
        storage=ImageStorage(
            aws.service_s3, BUCKET_NAME, presigning=presigning_client(None, session=boto_session)
        ),
        settings=get_settings(),
        clock=clock,
    )


@pytest.fixture
def processor(aws: Aws, clock: FakeClock) -> UploadProcessor:
    """The processing use case wired to the recorded moto clients, the way its handlers wire it."""
    return UploadProcessor(
        repository=ImageRepository(aws.service_dynamodb, TABLE_NAME, get_settings().listing_layout),
        storage=ImageStorage(aws.service_s3, BUCKET_NAME),
        settings=get_settings(),
        clock=clock,
    )


@pytest.fixture
def api(service: ImageService, processor: UploadProcessor, monkeypatch: pytest.MonkeyPatch) -> ApiClient:
    """Calls the real handlers as alice, ``service`` and ``processor`` in place of the warm-container ones."""
    for module in _API_MODULES:
        monkeypatch.setitem(module.app.dependency_overrides, dependencies.image_service, lambda: service)
    monkeypatch.setattr(processing_dependencies, "upload_processor", lambda: processor)
    return ApiClient.signed_in_as("alice")


UploadImage = Callable[..., str]


@pytest.fixture
def pending_image(api: ApiClient, clock: FakeClock) -> UploadImage:
    """Register an image through the API, signed in as its owner; its object is never uploaded."""

    def register(
        user_id: str = "alice", tags: Sequence[str] = (), at: str | None = None, visibility: str = "private"
    ) -> str:
        if at is not None:
            clock.set(at)
        query = {"tags": ",".join(tags), "visibility": visibility} if tags else {"visibility": visibility}
        result = api.as_user(user_id).upload(query=query)
        assert result.status_code == 201, result.body
        image_id: str = result.json()["image_id"]
        return image_id

    return register


def picture_of(image_id: str) -> bytes:
    """A real JPEG of random pixels seeded by the image id: each image its own picture (and hash)."""
    return images.jpeg(32, 24, seed=int(image_id, 16))


@pytest.fixture
def available_image(aws: Aws, pending_image: UploadImage) -> UploadImage:
    """Register an image, upload a real JPEG and deliver the S3 event, as a client and S3 would."""

    def create(
        user_id: str = "alice", tags: Sequence[str] = (), at: str | None = None, visibility: str = "private"
    ) -> str:
        image_id = pending_image(user_id=user_id, tags=tags, at=at, visibility=visibility)
        key = schema.incoming_object_key(image_id)
        content = picture_of(image_id)
        etag = aws.put(key, content, "image/jpeg")
        deliver_object_created(BUCKET_NAME, key, len(content), etag=etag)
        return image_id

    return create
