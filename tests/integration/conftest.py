"""Fixtures and helpers for the image service running on the local cloud.

Nothing here is mocked: the tests call the deployed REST API over HTTP, send image bytes
straight to S3 through the presigned POST the API hands out, and read the bucket and the
table with boto3, which the environment of ``localcloud/env.mk`` points at the local cloud.

Every test works under its own user (and its own tags), so the tests are independent of
each other, of their order and of earlier runs against the same deployment. A user is who a
bearer token of the local development issuer (``localcloud/dev_issuer.py``) says: ``api`` is
the API signed in as the test's ``user``, and ``api.as_user(other)`` signs in as another.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from image_core import schema
from localcloud.dev_issuer import DevIssuer
from localcloud.outputs import api_url, stack_outputs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS_FILE = ROOT / ".localcloud" / "outputs.json"
DEV_ISSUER_DIRECTORY = ROOT / ".localcloud" / "dev-issuer"

MIB = 1024 * 1024
MAX_UPLOAD_BYTES = 20 * MIB
UPLOAD_URL_EXPIRES_SECONDS = 900
DOWNLOAD_URL_EXPIRES_SECONDS = 300
# Processing is asynchronous (S3 notification -> Lambda); allow for a cold start.
PROCESSING_TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0


# --- polling ----------------------------------------------------------------------------------


def wait_for[T](
    probe: Callable[[], T | None],
    *,
    timeout: float = PROCESSING_TIMEOUT,
    interval: float = 0.2,
    what: str = "",
) -> T:
    """Poll until ``probe`` returns something truthy (asynchronous effects such as S3 notifications)."""
    deadline = time.monotonic() + timeout
    while True:
        if result := probe():
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout} s")
        time.sleep(interval)


# --- real image files ---------------------------------------------------------------------------


def _noise_image(width: int, height: int, seed: int | None) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


def png_bytes(width: int = 48, height: int = 32, *, seed: int | None = None) -> bytes:
    """A real PNG (random pixels, so every call gives different bytes unless seeded)."""
    out = io.BytesIO()
    _noise_image(width, height, seed).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48, *, seed: int | None = None) -> bytes:
    out = io.BytesIO()
    _noise_image(width, height, seed).save(out, format="JPEG", quality=85)
    return out.getvalue()


def padded_png(total_size: int) -> bytes:
    """A real PNG followed by padding up to ``total_size`` bytes (decoders stop at IEND)."""
    image = png_bytes(16, 16, seed=1)
    assert total_size >= len(image)
    return image + b"\0" * (total_size - len(image))


# --- the API ------------------------------------------------------------------------------------


class ImageApi:
    """The deployed REST API, called over HTTP as ``user`` (with a bearer token), or anonymously."""

    def __init__(
        self,
        base_url: str,
        issuer: DevIssuer,
        *,
        user: str | None = None,
        http: requests.Session | None = None,
        created: list[tuple[str, str]] | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.issuer = issuer
        self.user = user
        # Valid for an hour, far longer than a test run.
        self._token = issuer.token(user) if user is not None else None
        self.http = http or requests.Session()
        # (owner, image id) of every image this session registered, deleted when the session ends.
        self.created: list[tuple[str, str]] = created if created is not None else []

    def as_user(self, user: str) -> ImageApi:
        """The same API, signed in as ``user``."""
        return ImageApi(self.base_url, self.issuer, user=user, http=self.http, created=self.created)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token is not None else {}

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.auth_headers, **(kwargs.pop("headers", None) or {})}
        return self.http.request(method, self.url(path), headers=headers, timeout=HTTP_TIMEOUT, **kwargs)

    def request_upload(
        self,
        params: Mapping[str, str] | None = None,
        *,
        json_body: Any = None,
        raw_body: str | None = None,
    ) -> requests.Response:
        """POST /images/upload with query parameters and/or a JSON body (or a raw body as given)."""
        if json_body is not None:
            response = self.request("POST", "images/upload", params=params, json=json_body)
        else:
            headers = {"Content-Type": "application/json"} if raw_body is not None else None
            response = self.request("POST", "images/upload", params=params, data=raw_body, headers=headers)
        if response.status_code == 201 and self.user is not None:
            self.created.append((self.user, response.json()["image_id"]))
        return response

    def list_images(self, params: Mapping[str, str] | None = None) -> requests.Response:
        return self.request("GET", "images", params=params)

    def listed_ids(self, params: Mapping[str, str]) -> list[str]:
        """The image ids of one page, in the order listed."""
        response = self.list_images(params)
        assert response.status_code == 200, response.text
        return [item["image_id"] for item in response.json()["items"]]

    def get(self, image_id: str) -> requests.Response:
        return self.request("GET", f"images/{image_id}")

    def download(self, image_id: str, variant: str | None = None) -> requests.Response:
        params = {"variant": variant} if variant is not None else None
        return self.request("GET", f"images/{image_id}/download", params=params)

    def delete(self, image_id: str) -> requests.Response:
        return self.request("DELETE", f"images/{image_id}")

    def edit(self, image_id: str, body: Any) -> requests.Response:
        """PATCH /images/{id} with ``body`` as JSON."""
        return self.request("PATCH", f"images/{image_id}", json=body)


@dataclass(frozen=True)
class UploadGrant:
    image_id: str
    url: str
    fields: dict[str, str]
    expires_in: int

    @property
    def policy(self) -> dict[str, Any]:
        """The decoded POST policy S3 will enforce."""
        policy: dict[str, Any] = json.loads(base64.b64decode(self.fields["policy"]))
        return policy


def request_upload(
    api: ImageApi,
    user: str,
    tags: Sequence[str] = (),
    content_type: str = "image/png",
    *,
    description: str | None = None,
    visibility: str | None = None,
) -> UploadGrant:
    """Register an image of ``user``'s (signed in as them, query string form); its presigned POST."""
    params = {"content_type": content_type}
    if tags:
        params["tags"] = ",".join(tags)
    if description is not None:
        params["description"] = description
    if visibility is not None:
        params["visibility"] = visibility
    return grant_from(api.as_user(user).request_upload(params))


def grant_from(response: requests.Response) -> UploadGrant:
    assert response.status_code == 201, response.text
    answer = response.json()
    assert set(answer) == {"image_id", "upload", "expires_in"}, answer
    assert set(answer["upload"]) == {"url", "fields"}, answer
    return UploadGrant(
        image_id=answer["image_id"],
        url=answer["upload"]["url"],
        fields=answer["upload"]["fields"],
        expires_in=answer["expires_in"],
    )


def post_object(
    grant: UploadGrant, data: bytes, *, content_type: str, fields: Mapping[str, str] | None = None
) -> requests.Response:
    """Send the bytes to S3 as a browser would: a multipart form, the policy fields first, the file last."""
    form = dict(grant.fields if fields is None else fields)
    # requests writes data= fields before files=, which S3 requires (it ignores fields after "file").
    return requests.post(
        grant.url, data=form, files={"file": ("image", data, content_type)}, timeout=HTTP_TIMEOUT
    )


def send_bytes(grant: UploadGrant, data: bytes, content_type: str) -> None:
    response = post_object(grant, data, content_type=content_type)
    assert response.status_code in (201, 204), response.text


def upload_image(
    api: ImageApi,
    user: str,
    tags: Sequence[str] = (),
    content_type: str = "image/png",
    data: bytes | None = None,
    *,
    description: str | None = None,
    visibility: str | None = None,
) -> str:
    """Register an image of ``user``'s and send its bytes through the presigned POST; its id (maybe not
    yet available)."""
    grant = request_upload(api, user, tags, content_type, description=description, visibility=visibility)
    send_bytes(grant, data if data is not None else png_bytes(), content_type)
    return grant.image_id


def wait_until_available(
    api: ImageApi, image_id: str, *, timeout: float = PROCESSING_TIMEOUT
) -> dict[str, Any]:
    """Poll GET /images/{id} (as ``api``'s user, who must be allowed to see it) until processing has
    marked the image available; its metadata."""

    def probe() -> dict[str, Any] | None:
        response = api.get(image_id)
        assert response.status_code == 200, response.text
        image: dict[str, Any] = response.json()
        return image if image["status"] == "available" else None

    return wait_for(probe, timeout=timeout, what=f"image {image_id} available")


def assert_error(response: requests.Response, status: int, code: str, parameter: str | None = None) -> None:
    """The error envelope ``{"error": {"code", "message"}}`` with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    answer = response.json()
    assert set(answer) == {"error"}, answer
    assert set(answer["error"]) == {"code", "message"}, answer
    assert answer["error"]["code"] == code, answer
    assert answer["error"]["message"], answer
    if parameter is not None:
        assert f"'{parameter}'" in answer["error"]["message"], answer


# --- the bucket and the table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """Direct access to the service's bucket and table, to check what the API did (or did not) write."""

    s3: S3Client
    dynamodb: DynamoDBClient
    bucket: str
    table: str

    def object_exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def keys_under(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [entry["Key"] for entry in page.get("Contents", [])]
        return keys

    def stored_keys(self, image_id: str) -> list[str]:
        """Every object of the image: its upload (if still incoming), its originals and variants."""
        return sorted(
            self.keys_under(schema.incoming_object_key(image_id))
            + self.keys_under(schema.originals_prefix(image_id))
            + self.keys_under(schema.variants_prefix(image_id))
        )

    def original_key(self, image_id: str) -> str:
        """The key of the original the image's record names (its revision's); the image must be available."""
        (item,) = [
            item for item in self.image_items(image_id) if item[schema.SORT_KEY]["S"] == schema.IMAGE_SORT_KEY
        ]
        return schema.original_object_key(image_id, item["revision"]["S"])

    def image_items(self, image_id: str) -> list[dict[str, Any]]:
        """Every item under the image's partition (the image item and its tag items)."""
        response = self.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": schema.image_partition(image_id)}},
            ConsistentRead=True,
        )
        return list(response["Items"])

    def items_where(self, **equals: str) -> list[dict[str, Any]]:
        """Every item (any status, any sort key) with any of these attribute values: a full scan."""
        names = {f"#a{n}": attribute for n, attribute in enumerate(equals)}
        values = {f":v{n}": {"S": value} for n, value in enumerate(equals.values())}
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": " OR ".join(f"#a{n} = :v{n}" for n in range(len(equals))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        while True:
            page = self.dynamodb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def outputs() -> dict[str, str]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith("http://127.0.0.1:"):
        pytest.fail(
            "AWS_ENDPOINT_URL does not point at the local cloud: run these tests with "
            "`make test-integration` (or the environment of localcloud/env.mk)",
            pytrace=False,
        )
    try:
        return stack_outputs(OUTPUTS_FILE)
    except SystemExit as error:
        pytest.fail(f"no deployed image service ({error}): run `make up`", pytrace=False)


@pytest.fixture(scope="session")
def deployed_api(outputs: dict[str, str]) -> Iterator[ImageApi]:
    """The API, not signed in: ``.as_user(name)`` signs in (module-scoped fixtures use it)."""
    if outputs.get("AuthMode") != "jwt":
        pytest.fail(
            "the service is deployed without authentication (AUTH_MODE=none): run `make up`", pytrace=False
        )
    client = ImageApi(api_url(outputs), DevIssuer.load(DEV_ISSUER_DIRECTORY))
    try:
        probe = client.as_user(unique_user()).list_images({"limit": "1"})
    except requests.ConnectionError as error:
        pytest.fail(f"the local cloud does not answer ({error}): run `make up`", pytrace=False)
    if probe.status_code != 200:
        pytest.fail(
            f"the API {client.base_url} from {OUTPUTS_FILE} does not answer ({probe.status_code} "
            f"{probe.text[:200]}); the local cloud may have restarted: run `make up`",
            pytrace=False,
        )
    yield client
    # Leave the deployment as found: DELETE is idempotent enough (404 once gone).
    for owner, image_id in client.created:
        assert client.as_user(owner).delete(image_id).status_code in (204, 404)
    client.http.close()


@pytest.fixture(scope="session")
def backend(outputs: dict[str, str]) -> Backend:
    return Backend(
        s3=boto3.client("s3"),
        dynamodb=boto3.client("dynamodb"),
        bucket=outputs["BucketName"],
        table=outputs["TableName"],
    )


def unique_user() -> str:
    return f"it-user-{uuid.uuid4().hex}"


def unique_tag(name: str) -> str:
    """A tag no other test or run uses (tag listings span every user)."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def user() -> str:
    """A user id of this test alone."""
    return unique_user()


@pytest.fixture
def api(deployed_api: ImageApi, user: str) -> ImageApi:
    """The API signed in as this test's ``user``."""
    return deployed_api.as_user(user)
