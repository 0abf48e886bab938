"""Every upload verified on the local cloud: the right status and reason, true facts, variants, cleanup.

Real files (``tests.images``) go through the presigned POST; S3 notifies the deployed
processing function, whose outcome is read through the API, the bucket and the table.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from PIL import Image

from image_core import schema
from tests import images
from tests.integration.conftest import (
    HTTP_TIMEOUT,
    PROCESSING_TIMEOUT,
    Backend,
    ImageApi,
    UploadGrant,
    assert_error,
    request_upload,
    send_bytes,
    unique_tag,
    unique_user,
    wait_for,
    wait_until_available,
)

pytestmark = pytest.mark.integration

# The pending grace period of the deployed stages (stacks.settings.StageSettings).
PENDING_GRACE_SECONDS = 2 * 3600
UPLOAD_URL_EXPIRES_SECONDS = 900
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
# Three attempts (1 s and 2 s apart on the local cloud), then the failure function.
FAILURE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Processing:
    """The deployed processing function, as the tests need to know it."""

    function_name: str
    fault_tag: str
    dead_letter_queue_url: str


@pytest.fixture(scope="session")
def processing(outputs: dict[str, str]) -> Processing:
    configuration = boto3.client("lambda").get_function_configuration(
        FunctionName=outputs["ProcessingFunctionName"]
    )
    queue_name = configuration["DeadLetterConfig"]["TargetArn"].rsplit(":", 1)[-1]
    return Processing(
        function_name=outputs["ProcessingFunctionName"],
        fault_tag=configuration["Environment"]["Variables"]["PROCESSING_FAULT_TAG"],
        dead_letter_queue_url=boto3.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"],
    )


def upload(
    api: ImageApi, user: str, data: bytes, content_type: str, tags: list[str] | None = None
) -> UploadGrant:
    grant = request_upload(api, user, tags or [], content_type)
    send_bytes(grant, data, content_type)
    return grant


def wait_for_status(
    api: ImageApi, image_id: str, status: str, timeout: float = PROCESSING_TIMEOUT
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        image: dict[str, Any] = api.get(image_id).json()
        return image if image.get("status") == status else None

    return wait_for(probe, timeout=timeout, what=f"image {image_id} {status}")


def stored_keys(backend: Backend, image_id: str) -> list[str]:
    """Every object of the image in the bucket: its upload, its originals and variants of any revision."""
    return backend.stored_keys(image_id)


def image_item(backend: Backend, image_id: str) -> dict[str, Any] | None:
    return next(
        (
            item
            for item in backend.image_items(image_id)
            if item[schema.SORT_KEY]["S"] == schema.IMAGE_SORT_KEY
        ),
        None,
    )


def download_variant(api: ImageApi, image_id: str, variant: str) -> requests.Response:
    link = api.download(image_id, variant)
    assert link.status_code == 200, link.text
    response = requests.get(link.json()["url"], timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return response


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- each kind of upload ends where it should ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "facts"),
    [
        pytest.param(
            images.jpeg_rotated_with_gps(400, 200),
            "image/jpeg",
            {"format": "JPEG", "width": 400, "height": 200, "frames": 1, "exif_orientation": 6},
            id="JPEG, orientation 6, GPS",
        ),
        pytest.param(
            images.transparent_png(300, 150),
            "image/png",
            {"format": "PNG", "width": 300, "height": 150, "frames": 1, "exif_orientation": 1},
            id="PNG with transparency",
        ),
        pytest.param(
            images.animated_gif(frames=4),
            "image/gif",
            {"format": "GIF", "width": 120, "height": 80, "frames": 4, "exif_orientation": 1},
            id="animated GIF",
        ),
        pytest.param(
            images.webp(320, 240),
            "image/webp",
            {"format": "WEBP", "width": 320, "height": 240, "frames": 1, "exif_orientation": 1},
            id="WebP",
        ),
        pytest.param(
            images.heic(320, 200),
            "image/heic",
            {"format": "HEIF", "width": 320, "height": 200, "frames": 1, "exif_orientation": 1},
            id="HEIC",
        ),
    ],
)
def test_an_image_of_each_accepted_format_becomes_available_with_its_true_facts(
    api: ImageApi, backend: Backend, user: str, data: bytes, content_type: str, facts: dict[str, Any]
) -> None:
    # Given / When a real file is uploaded as its own type
    grant = upload(api, user, data, content_type)

    # Then it becomes available with the facts of its bytes
    image = wait_until_available(api, grant.image_id)
    assert {name: image[name] for name in facts} == facts
    assert (image["size"], image["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert (image["reason"], image["duplicate_of"]) == (None, None)
    # And the record no longer expires
    item = image_item(backend, grant.image_id)
    assert item is not None
    assert schema.TTL_ATTRIBUTE not in item
    # And both variants download as bare WebPs within their long edges
    for variant, edge in (("preview", 1280), ("thumbnail", 256)):
        response = download_variant(api, grant.image_id, variant)
        picture = opened(response.content)
        assert response.headers["Content-Type"] == "image/webp"
        assert picture.format == "WEBP"
        assert max(picture.size) <= edge
        assert len(picture.getexif()) == 0
        assert b"EXIF" not in response.content


@pytest.mark.parametrize(
    ("data", "content_type", "reason"),
    [
        pytest.param(images.TEXT, "image/jpeg", "unsupported_format", id="text file as image/jpeg"),
        pytest.param(images.png(), "image/jpeg", "content_type_mismatch", id="PNG as image/jpeg"),
        pytest.param(images.truncated(images.jpeg(400, 300)), "image/jpeg", "corrupt", id="truncated JPEG"),
        pytest.param(images.png_declaring(100_000, 100_000), "image/png", "too_many_pixels", id="PNG bomb"),
    ],
)
def test_a_refused_upload_ends_rejected_with_its_reason_and_nothing_in_the_bucket(
    api: ImageApi, backend: Backend, user: str, data: bytes, content_type: str, reason: str
) -> None:
    # Given / When bytes that are no acceptable image of the declared type are uploaded
    grant = upload(api, user, data, content_type)

    # Then the image ends rejected, saying why, with no facts
    image = wait_for_status(api, grant.image_id, "rejected")
    assert image["reason"] == reason
    assert (image["size"], image["width"], image["format"]) == (None, None, None)
    # And nothing of it stays in the bucket, and it lists nowhere
    wait_for(lambda: stored_keys(backend, grant.image_id) == [], what="rejected bytes deleted")
    assert grant.image_id not in api.listed_ids({})
    assert api.download(grant.image_id).status_code == 409


# --- variants -----------------------------------------------------------------------------------


def test_variants_have_their_long_edges_are_upright_and_carry_no_gps(api: ImageApi, user: str) -> None:
    # Given a large phone photo: 2000x1000 pixels stored landscape, EXIF "rotate 90°", GPS tags
    data = images.jpeg_rotated_with_gps(2000, 1000)
    grant = upload(api, user, data, "image/jpeg")
    wait_until_available(api, grant.image_id)

    # When its variants are downloaded
    preview = opened(download_variant(api, grant.image_id, "preview").content)
    thumbnail = opened(download_variant(api, grant.image_id, "thumbnail").content)

    # Then they are upright (portrait), 1280 and 256 long, with the red corner now top right
    assert preview.size == (640, 1280)
    assert thumbnail.size == (128, 256)
    assert thumbnail.convert("RGB").getpixel((thumbnail.width - 5, 5)) == pytest.approx((255, 0, 0), abs=40)
    # And no EXIF at all, so no GPS; while the original downloads as uploaded
    assert len(preview.getexif()) == len(thumbnail.getexif()) == 0
    original = requests.get(api.download(grant.image_id).json()["url"], timeout=HTTP_TIMEOUT)
    assert original.content == data


def test_a_small_image_is_never_scaled_up(api: ImageApi, user: str) -> None:
    grant = upload(api, user, images.png(40, 30), "image/png")
    wait_until_available(api, grant.image_id)

    for variant in ("preview", "thumbnail"):
        assert opened(download_variant(api, grant.image_id, variant).content).size == (40, 30)


def test_an_unknown_variant_is_refused(api: ImageApi, user: str) -> None:
    grant = upload(api, user, images.png(), "image/png")
    wait_until_available(api, grant.image_id)

    response = api.download(grant.image_id, "poster")

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_parameter"


def test_a_re_upload_replaces_the_variants_and_delete_removes_every_one(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given an available image, posted again through the same form with a larger picture
    grant = request_upload(api, user, [], "image/jpeg")
    send_bytes(grant, images.jpeg(64, 48, seed=1), "image/jpeg")
    first = wait_until_available(api, grant.image_id)
    send_bytes(grant, images.jpeg(800, 600, seed=2), "image/jpeg")
    wait_for(lambda: api.get(grant.image_id).json()["width"] == 800, what="re-upload processed")

    # Then only the current upload's two variants exist, the thumbnail at its new size
    wait_for(lambda: len(stored_keys(backend, grant.image_id)) == 3, what="old variants removed")
    assert opened(download_variant(api, grant.image_id, "thumbnail").content).size == (256, 192)
    assert first["sha256"] != api.get(grant.image_id).json()["sha256"]

    # When the image is deleted, Then nothing of it is left
    assert api.delete(grant.image_id).status_code == 204
    assert stored_keys(backend, grant.image_id) == []


# --- variants and ownership -----------------------------------------------------------------------


def test_no_variant_of_a_private_image_is_found_by_another_user(
    api: ImageApi, deployed_api: ImageApi, backend: Backend, user: str
) -> None:
    # Given a private available image, with its two variants
    grant = upload(api, user, images.png(), "image/png")
    wait_until_available(api, grant.image_id)
    stranger = deployed_api.as_user(unique_user())

    # When another user asks for any of its downloads, or to delete it
    unknown = stranger.download(UNKNOWN_ID, "thumbnail")
    answers = [stranger.download(grant.image_id, variant) for variant in ("original", "preview", "thumbnail")]

    # Then each is answered exactly like an unknown image, and nothing of it is touched
    assert [(answer.status_code, answer.json()) for answer in answers] == [(404, unknown.json())] * 3
    assert stranger.delete(grant.image_id).status_code == 404
    assert len(stored_keys(backend, grant.image_id)) == 3


def test_a_public_images_variants_download_for_anybody_signed_in_and_only_its_owner_deletes_them(
    api: ImageApi, deployed_api: ImageApi, backend: Backend, user: str
) -> None:
    # Given a public available image
    grant = request_upload(api, user, [], "image/jpeg", visibility="public")
    send_bytes(grant, images.jpeg(800, 600, seed=5), "image/jpeg")
    wait_until_available(api, grant.image_id)
    stranger = deployed_api.as_user(unique_user())

    # When another user downloads its thumbnail, Then it is the thumbnail
    assert opened(download_variant(stranger, grant.image_id, "thumbnail").content).size == (256, 192)
    # But that user may not delete it: the original and both variants stay
    assert_error(stranger.delete(grant.image_id), 403, "forbidden")
    assert len(stored_keys(backend, grant.image_id)) == 3
    # While its owner's DELETE removes every one of them
    assert api.delete(grant.image_id).status_code == 204
    assert stored_keys(backend, grant.image_id) == []
    assert stranger.download(grant.image_id, "thumbnail").status_code == 404


def test_a_public_upload_that_is_rejected_is_never_listed_or_shown_publicly(
    api: ImageApi, deployed_api: ImageApi, backend: Backend, user: str
) -> None:
    # Given a public upload whose bytes are no image
    tag = unique_tag("rejected")
    grant = request_upload(api, user, [tag], "image/jpeg", visibility="public")
    send_bytes(grant, images.TEXT, "image/jpeg")

    # When processing has rejected it
    wait_for_status(api, grant.image_id, "rejected")

    # Then nobody else sees it, in the public listings or by its id, and it has no public index key
    stranger = deployed_api.as_user(unique_user())
    assert grant.image_id not in stranger.listed_ids({"visibility": "public", "tag": tag})
    assert stranger.get(grant.image_id).status_code == 404
    item = image_item(backend, grant.image_id)
    assert item is not None
    assert schema.PUBLIC.partition_key not in item


# --- duplicates and idempotence ----------------------------------------------------------------


def test_the_same_picture_uploaded_twice_by_a_user_is_marked_a_duplicate(api: ImageApi, user: str) -> None:
    # Given an available image
    data = images.jpeg(200, 100, seed=42)
    first = upload(api, user, data, "image/jpeg")
    wait_until_available(api, first.image_id)

    # When the same user uploads the same picture again
    second = upload(api, user, data, "image/jpeg")

    # Then the second names the first; another user's copy names nothing
    assert wait_until_available(api, second.image_id)["duplicate_of"] == first.image_id
    assert api.get(first.image_id).json()["duplicate_of"] is None
    other_user = f"{user}-other"
    other = upload(api, other_user, data, "image/jpeg")
    assert wait_until_available(api.as_user(other_user), other.image_id)["duplicate_of"] is None


def test_a_duplicated_s3_event_changes_nothing(
    api: ImageApi, backend: Backend, processing: Processing, user: str
) -> None:
    # Given an available image
    grant = upload(api, user, images.jpeg(seed=7), "image/jpeg")
    wait_until_available(api, grant.image_id)
    key = schema.incoming_object_key(grant.image_id)
    items = sorted(map(json.dumps, backend.image_items(grant.image_id)))
    objects = sorted(stored_keys(backend, grant.image_id))
    head = backend.s3.head_object(Bucket=backend.bucket, Key=backend.original_key(grant.image_id))

    # When S3 delivers its ObjectCreated event again
    event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "bucket": {"name": backend.bucket, "arn": f"arn:aws:s3:::{backend.bucket}"},
                    "object": {"key": key, "size": head["ContentLength"], "eTag": head["ETag"].strip('"')},
                },
            }
        ]
    }
    response = boto3.client("lambda").invoke(FunctionName=processing.function_name, Payload=json.dumps(event))

    # Then processing succeeds and the record, its tag items and its objects are as they were
    assert "FunctionError" not in response, response["Payload"].read()
    assert sorted(map(json.dumps, backend.image_items(grant.image_id))) == items
    assert sorted(stored_keys(backend, grant.image_id)) == objects


# --- failure ------------------------------------------------------------------------------------


def dead_letters(queue_url: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(S3 event, receipt handle) of each message in the dead-letter queue, until it seems empty."""
    sqs = boto3.client("sqs")
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            return
        for message in messages:
            yield json.loads(message["Body"]), message["ReceiptHandle"]


def test_a_provoked_processing_failure_ends_failed_and_in_the_dead_letter_queue(
    api: ImageApi, backend: Backend, processing: Processing, user: str
) -> None:
    # Given an image tagged so that processing fails on purpose (the local stage's fault tag)
    grant = upload(api, user, images.jpeg(seed=3), "image/jpeg", tags=[processing.fault_tag])
    key = schema.incoming_object_key(grant.image_id)

    # When every attempt has failed
    image = wait_for_status(api, grant.image_id, "failed", timeout=FAILURE_TIMEOUT)

    # Then the image says why, none of its bytes are left, and it lists nowhere
    assert image["reason"] == "processing_failed"
    wait_for(lambda: stored_keys(backend, grant.image_id) == [], what="failed bytes deleted")
    assert grant.image_id not in api.listed_ids({})
    # And the S3 event waits in the dead-letter queue (taken out here, to leave it tidy)
    sqs = boto3.client("sqs")

    def parked() -> bool:
        for event, receipt in dead_letters(processing.dead_letter_queue_url):
            if any(record["s3"]["object"]["key"] == key for record in event.get("Records", [])):
                sqs.delete_message(QueueUrl=processing.dead_letter_queue_url, ReceiptHandle=receipt)
                return True
        return False

    wait_for(parked, timeout=FAILURE_TIMEOUT, interval=1.0, what="event in the dead-letter queue")


# --- cleanup ------------------------------------------------------------------------------------


def test_a_pending_record_expires_a_grace_period_after_its_upload_window(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given / When an upload is requested
    before = int(time.time())
    grant = request_upload(api, user)

    # Then its record carries the table's TTL: the window's end plus the grace period
    item = image_item(backend, grant.image_id)
    assert item is not None
    expires_at = int(item[schema.TTL_ATTRIBUTE]["N"])
    lifetime = UPLOAD_URL_EXPIRES_SECONDS + PENDING_GRACE_SECONDS
    assert before + lifetime - 5 <= expires_at <= int(time.time()) + lifetime + 5


def test_bytes_arriving_after_their_record_expired_are_deleted_and_the_record_disappears(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given a pending record whose time is up (its expiry moved into the past: as if the window
    # and the grace had passed), though its presigned POST still works
    grant = request_upload(api, user, [], "image/png")
    backend.dynamodb.update_item(
        TableName=backend.table,
        Key={
            schema.PARTITION_KEY: {"S": schema.image_partition(grant.image_id)},
            schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
        },
        UpdateExpression="SET #ttl = :past",
        ExpressionAttributeNames={"#ttl": schema.TTL_ATTRIBUTE},
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    # Then reads treat it as gone at once
    assert api.get(grant.image_id).status_code == 404

    # When bytes are posted for it anyway
    send_bytes(grant, images.png(), "image/png")

    # Then processing deletes them as an orphan, and the table's TTL removes the record
    wait_for(lambda: stored_keys(backend, grant.image_id) == [], what="orphan bytes deleted")
    wait_for(lambda: backend.image_items(grant.image_id) == [], timeout=40, what="expired record swept")


# --- the code assets ------------------------------------------------------------------------------


def deployed_files(function_name: str) -> set[str]:
    location = boto3.client("lambda").get_function(FunctionName=function_name)["Code"]["Location"]
    archive = requests.get(location, timeout=HTTP_TIMEOUT)
    assert archive.status_code == 200
    return set(zipfile.ZipFile(io.BytesIO(archive.content)).namelist())


def test_only_the_processing_asset_carries_pillow_and_only_the_api_asset_pyjwt(
    outputs: dict[str, str], processing: Processing
) -> None:
    # Given the deployed processing function and an API function of the same stack
    api_functions = [
        function["FunctionName"]
        for page in boto3.client("lambda").get_paginator("list_functions").paginate()
        for function in page["Functions"]
        if function.get("Handler") == "image_api.get_image.handler"
        and function.get("Environment", {}).get("Variables", {}).get("TABLE_NAME") == outputs["TableName"]
    ]
    assert len(api_functions) == 1

    processing_files = deployed_files(processing.function_name)
    api_files = deployed_files(api_functions[0])

    # Then Pillow and the HEIF decoder are in the processing asset only, and no numpy anywhere
    assert {"PIL/__init__.py", "pi_heif/__init__.py", "image_processing/imaging.py"} <= processing_files
    assert not any(name.startswith(("PIL/", "pi_heif/", "image_processing/")) for name in api_files)
    assert not any(name.startswith(("numpy/", "scipy/")) for name in processing_files | api_files)
    # And the token verifier's PyJWT and cryptography are in the API asset only
    assert {"jwt/__init__.py", "cryptography/__init__.py", "image_api/resolver.py"} <= api_files
    assert not any(name.startswith(("jwt/", "cryptography/", "image_api/")) for name in processing_files)
