"""openapi.json drives a client nobody here wrote: openapi-python-client generates one (offline),
and the image's whole life goes through it against the local cloud.

A document that only looks right fails here: a wrong path, parameter, body or answer shape
makes the generated code send what the API refuses, or fail to read what it answers.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from .conftest import HTTP_TIMEOUT, PROCESSING_TIMEOUT, ROOT, ImageApi, png_bytes, unique_tag

DOCUMENT = ROOT / "openapi.json"
PACKAGE = "image_service_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """The client generated from the committed document into a temporary folder, imported."""
    folder = tmp_path_factory.mktemp("generated-client")
    bin_dir = Path(sys.executable).parent
    # Any attempt to reach the network goes to a closed port and fails: generating must not need it.
    no_network = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    result = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(DOCUMENT),
            "--output-path",
            str(folder / PACKAGE),
            "--meta",
            "none",
        ],
        # Its post-generation hooks run ruff, which is this venv's.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **no_network},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # It reports what it could not generate as warnings, yet succeeds: nothing may be missing.
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        names = [
            "",
            ".api.images.request_upload",
            ".api.images.list_images",
            ".api.images.get_image",
            ".api.images.edit_image",
            ".api.images.download_image",
            ".api.images.delete_image",
            ".api.contract.get_openapi_document",
            ".models",
        ]
        return {
            name.rsplit(".", 1)[-1] or "client": importlib.import_module(PACKAGE + name) for name in names
        }
    finally:
        sys.path.remove(str(folder))


def test_an_image_s_whole_life_through_the_generated_client(
    generated: dict[str, ModuleType], deployed_api: ImageApi, api: ImageApi, user: str
) -> None:
    package, models = generated["client"], generated["models"]
    alice = package.AuthenticatedClient(
        base_url=api.base_url, token=api.issuer.token(user), raise_on_unexpected_status=True
    )
    tag, new_tag = unique_tag("client"), unique_tag("edited")

    # Request an upload (the fields as a JSON body), then send the bytes to S3 as the grant says
    grant = generated["request_upload"].sync(
        client=alice,
        body=models.UploadFields(
            tags=[tag],
            description="through the generated client",
            content_type=models.ImageContentType.IMAGEPNG,
        ),
    )
    assert isinstance(grant, models.UploadGrant), grant
    api.created.append((user, grant.image_id))
    data = png_bytes(seed=7)
    sent = requests.post(
        grant.upload.url,
        data=grant.upload.fields.to_dict(),
        files={"file": ("cat.png", data, "image/png")},
        timeout=HTTP_TIMEOUT,
    )
    assert sent.status_code in (201, 204), sent.text

    # Get it until processing has made it available
    deadline = time.monotonic() + PROCESSING_TIMEOUT
    while (
        image := generated["get_image"].sync(grant.image_id, client=alice)
    ).status != models.ImageStatus.AVAILABLE:
        assert isinstance(image, models.Image), image
        assert time.monotonic() < deadline, f"not available: {image}"
        time.sleep(0.3)
    assert (image.width, image.height, image.format_) == (48, 32, "PNG")

    # List it by its tag
    page = generated["list_images"].sync(client=alice, tag=tag)
    assert isinstance(page, models.ImagePage), page
    assert [item.image_id for item in page.items] == [grant.image_id]

    # Edit it: a new tag, a description, public
    edited = generated["edit_image"].sync(
        grant.image_id,
        client=alice,
        body=models.ImageEdit(tags=[new_tag], description="edited", visibility=models.Visibility.PUBLIC),
    )
    assert isinstance(edited, models.Image), edited
    assert (edited.tags, edited.description, edited.visibility) == (
        [new_tag],
        "edited",
        models.Visibility.PUBLIC,
    )
    assert generated["list_images"].sync(client=alice, tag=tag).items == []
    public = generated["list_images"].sync(client=alice, visibility="public", tag=new_tag)
    assert [item.image_id for item in public.items] == [grant.image_id]

    # Download the original and compare
    link = generated["download_image"].sync(grant.image_id, client=alice, variant=models.Variant.ORIGINAL)
    assert isinstance(link, models.DownloadLink), link
    assert requests.get(link.url, timeout=HTTP_TIMEOUT).content == data

    # Errors come back as the envelope, parsed: someone else may see but not edit the public image
    bob = package.AuthenticatedClient(base_url=api.base_url, token=api.issuer.token(f"{user}-bob"))
    refused = generated["edit_image"].sync_detailed(
        grant.image_id, client=bob, body=models.ImageEdit(tags=["mine"])
    )
    assert refused.status_code == 403
    assert refused.parsed.error.code == models.ErrorCode.FORBIDDEN

    # Delete it: 204, then it is not found
    deleted = generated["delete_image"].sync_detailed(grant.image_id, client=alice)
    assert deleted.status_code == 204
    gone = generated["get_image"].sync_detailed(grant.image_id, client=alice)
    assert gone.status_code == 404
    assert gone.parsed.error.code == models.ErrorCode.NOT_FOUND


def test_the_served_document_is_the_committed_one_and_needs_no_token(
    generated: dict[str, ModuleType], deployed_api: ImageApi
) -> None:
    anonymous = generated["client"].Client(base_url=deployed_api.base_url, raise_on_unexpected_status=True)

    response = generated["get_openapi_document"].sync_detailed(client=anonymous)

    assert response.status_code == 200
    served: Any = json.loads(response.content)
    assert served == json.loads(DOCUMENT.read_text())
