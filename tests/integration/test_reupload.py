"""A presigned POST used again: the invariant of the quarantine, on the local cloud.

**An original that processing accepted is never deleted by the lifecycle backstop, and bytes
that processing has not accepted are never served.** Uploads land under the incoming prefix
(the only one the backstop expires); processing alone copies verified bytes to the original of
their revision, which is what downloads serve.

The defects these reproduce: a retried POST stored the original again tagged unverified and
processing never retagged it (the backstop deleted it a day later while the record said
available), and a re-upload was served as the original before processing had looked at it.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from typing import Any

import pytest
import requests
from PIL import Image, ImageDraw

from image_core import schema
from tests import images
from tests.integration.conftest import (
    HTTP_TIMEOUT,
    PROCESSING_TIMEOUT,
    Backend,
    ImageApi,
    UploadGrant,
    request_upload,
    send_bytes,
    wait_for,
    wait_until_available,
)

pytestmark = pytest.mark.integration

# Decoding this many pixels takes processing a second or more: the window in which the new
# bytes wait, unverified, under the incoming prefix (the pixel limit is 50 million).
SLOW_SIDE = 7000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def slow_png(seed: int) -> bytes:
    """A real PNG of 49 megapixels that compresses to little (so it stays far under 20 MiB)."""
    picture = Image.new("RGB", (SLOW_SIDE, SLOW_SIDE), (seed * 40 % 256, 90, 160))
    ImageDraw.Draw(picture).rectangle((seed * 100, 500, seed * 100 + 2000, 3000), fill=(250, 250, 250))
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def uploaded(api: ImageApi, user: str, data: bytes) -> tuple[UploadGrant, dict[str, Any]]:
    """An available image of these PNG bytes, and its grant (still valid for 15 minutes)."""
    grant = request_upload(api, user, content_type="image/png")
    send_bytes(grant, data, "image/png")
    return grant, wait_until_available(api, grant.image_id)


def processed(backend: Backend, image_id: str, *, timeout: float = PROCESSING_TIMEOUT) -> None:
    """Wait until processing has finished with the image's upload: the quarantine is empty."""
    key = schema.incoming_object_key(image_id)
    wait_for(lambda: not backend.object_exists(key), timeout=timeout, what=f"{key} processed")


def assert_exactly_one_verified_original(backend: Backend, image_id: str, data: bytes) -> None:
    """The bucket holds the original of ``data``'s revision, its variants, and nothing else of the image."""
    revision = sha256(data)
    assert backend.stored_keys(image_id) == sorted(schema.revision_object_keys(image_id, revision))
    original = schema.original_object_key(image_id, revision)
    assert backend.s3.get_object(Bucket=backend.bucket, Key=original)["Body"].read() == data
    # No tag at all, so no lifecycle rule keyed on one can ever reach it; and the rule that
    # exists expires the incoming prefix only (asserted on the template)
    assert backend.s3.get_object_tagging(Bucket=backend.bucket, Key=original)["TagSet"] == []


def test_a_re_posted_identical_upload_leaves_one_verified_original_and_the_same_facts(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given an available image
    data = images.png(120, 80, seed=31)
    grant, facts = uploaded(api, user, data)

    # When the client retries its POST with the very same bytes, and processing has run
    send_bytes(grant, data, "image/png")
    processed(backend, grant.image_id)

    # Then exactly one original remains, the bytes accepted, untagged, nothing in quarantine,
    # and the record says what it said
    assert_exactly_one_verified_original(backend, grant.image_id, data)
    assert api.get(grant.image_id).json() == facts
    assert facts["sha256"] == sha256(data)


def test_a_re_posted_different_upload_leaves_one_verified_original_with_its_facts(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given an available image
    first = images.png(120, 80, seed=32)
    grant, _ = uploaded(api, user, first)

    # When other bytes are posted with the same grant, and processing has run
    second = images.png(200, 50, seed=33)
    send_bytes(grant, second, "image/png")
    wait_for(
        lambda: api.get(grant.image_id).json()["sha256"] == sha256(second), what="the new bytes recorded"
    )
    processed(backend, grant.image_id)

    # Then the new bytes are the one original, the facts are theirs, and the old ones are gone
    assert_exactly_one_verified_original(backend, grant.image_id, second)
    image = api.get(grant.image_id).json()
    assert (image["status"], image["size"], image["width"], image["height"]) == (
        "available",
        len(second),
        200,
        50,
    )
    fetched = requests.get(api.download(grant.image_id).json()["url"], timeout=HTTP_TIMEOUT)
    assert fetched.content == second


def download_original(api: ImageApi, image_id: str) -> bytes | None:
    """The original's bytes as a viewer downloads them now, or None when none is served (yet, or any more)."""
    link = api.download(image_id)
    # Not available any more (say, rejected): 409 to its owner, 404 to anybody else
    if link.status_code in (404, 409):
        return None
    assert link.status_code == 200, link.text
    fetched = requests.get(link.json()["url"], timeout=HTTP_TIMEOUT)
    if fetched.status_code == 404:  # the revision was replaced between the link and the fetch
        return None
    assert fetched.status_code == 200, fetched.text
    return fetched.content


@pytest.mark.parametrize("accepted", [True, False], ids=["new bytes accepted", "new bytes refused"])
def test_a_download_never_serves_bytes_processing_has_not_accepted(
    api: ImageApi, backend: Backend, user: str, accepted: bool
) -> None:
    # Given a public image that is available, and another signed-in user viewing it
    grant = request_upload(api, user, content_type="image/png", visibility="public")
    first = images.png(64, 64, seed=34)
    send_bytes(grant, first, "image/png")
    wait_until_available(api, grant.image_id)
    viewer = api.as_user(f"{user}-viewer")

    # When new bytes that take processing a while are posted with the same grant (valid ones,
    # or ones it refuses as corrupt once it has decoded nearly all of them)
    slow = slow_png(seed=35)
    new = slow if accepted else slow[:-64]
    send_bytes(grant, new, "image/png")
    incoming = schema.incoming_object_key(grant.image_id)

    # Then every download, before, while and after processing, gets the accepted original, or
    # the new bytes only once the record says they were accepted
    served_while_unverified = 0
    deadline = time.monotonic() + 120
    while True:
        waiting = backend.object_exists(incoming)
        served = download_original(viewer, grant.image_id)
        record = api.get(grant.image_id).json()
        if served is not None and sha256(served) != sha256(first):
            assert accepted, "bytes processing refused were served"
            assert sha256(served) == sha256(new) == record["sha256"], "bytes served before they were accepted"
        if waiting and served == first:
            served_while_unverified += 1
        # Processing deletes the upload last, once the record says what became of it
        if not waiting and (record["status"] == "rejected" or record["sha256"] == sha256(new)):
            break
        assert time.monotonic() < deadline, "processing did not finish in time"
    # And the test did look while the new bytes waited unverified
    assert served_while_unverified >= 1
    if accepted:
        assert download_original(viewer, grant.image_id) == new
        assert_exactly_one_verified_original(backend, grant.image_id, new)
    else:
        image = api.get(grant.image_id).json()
        assert (image["status"], image["reason"]) == ("rejected", "corrupt")
        assert backend.stored_keys(grant.image_id) == []


def test_two_posts_racing_leave_one_original_matching_the_record(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given an available image
    grant, _ = uploaded(api, user, images.png(64, 64, seed=36))

    # When two different uploads are posted with its grant at the same time
    candidates = [images.png(100, 60, seed=37), images.png(60, 100, seed=38)]
    threads = [threading.Thread(target=send_bytes, args=(grant, data, "image/png")) for data in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    processed(backend, grant.image_id)
    wait_for(
        lambda: api.get(grant.image_id).json()["sha256"] in {sha256(data) for data in candidates},
        what="one of the racing uploads recorded",
    )

    # Then exactly one original is left: the one the record describes (the last one S3 stored)
    image = api.get(grant.image_id).json()
    (winner,) = [data for data in candidates if sha256(data) == image["sha256"]]
    assert_exactly_one_verified_original(backend, grant.image_id, winner)
    assert (image["width"], image["height"], image["size"]) == (
        *Image.open(io.BytesIO(winner)).size,
        len(winner),
    )
