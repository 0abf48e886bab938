"""Load: 100 full upload flows at once, on the local cloud, loopback only, bounded in count and time.

Each flow is what a client does: register (POST /images/upload), send the bytes to S3 through
the presigned POST, and poll until the image is available. All of them run at once (one
thread each, each with its own HTTP session). Afterwards every one is ``available``, has
exactly one original and its variants, and nothing is left under the incoming prefix: zero
orphans. No timing is asserted (the machine is shared); the bound is the wait per image.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from image_core import schema
from tests.integration.conftest import (
    Backend,
    ImageApi,
    png_bytes,
    request_upload,
    send_bytes,
    unique_user,
    wait_until_available,
)

pytestmark = pytest.mark.integration

FLOWS = 100
# Processing 100 images queues them behind each other on two cores: far more than one's wait.
WAIT_PER_IMAGE = 240.0


def test_a_hundred_concurrent_upload_flows_end_available_with_no_orphans(
    deployed_api: ImageApi, backend: Backend
) -> None:
    user = unique_user()

    def flow(number: int) -> str:
        api = ImageApi(deployed_api.base_url, deployed_api.issuer, user=user, created=deployed_api.created)
        try:
            grant = request_upload(api, user, ["load"])
            send_bytes(grant, png_bytes(seed=number), "image/png")
            wait_until_available(api, grant.image_id, timeout=WAIT_PER_IMAGE)
            return grant.image_id
        finally:
            api.http.close()

    with ThreadPoolExecutor(max_workers=FLOWS) as pool:
        image_ids = list(pool.map(flow, range(FLOWS)))

    assert len(set(image_ids)) == FLOWS
    for image_id in image_ids:
        keys = backend.stored_keys(image_id)
        assert backend.keys_under(schema.incoming_object_key(image_id)) == [], keys
        assert [key for key in keys if key.startswith(schema.ORIGINALS_PREFIX)] == [
            backend.original_key(image_id)
        ], keys
        assert any(key.startswith(schema.VARIANTS_PREFIX) for key in keys), keys
    # And the listing holds exactly the hundred
    listed: list[str] = []
    api = deployed_api.as_user(user)
    cursor: str | None = None
    while True:
        page = api.list_images({"limit": "100", **({"cursor": cursor} if cursor else {})}).json()
        listed += [item["image_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(listed) == sorted(image_ids)
