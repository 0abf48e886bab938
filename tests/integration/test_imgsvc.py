"""The installed ``imgsvc`` command, run as a user runs it, against the service on the local cloud.

Each test runs ``.venv/bin/imgsvc`` as a subprocess from a scratch folder (so it finds the
deployment through the checkout it was installed from, as it does for a user anywhere), signed
in with a development token that ``imgsvc token`` itself printed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests import images
from tests.integration.conftest import ROOT, ImageApi, unique_tag

pytestmark = pytest.mark.integration

IMGSVC = ROOT / ".venv" / "bin" / "imgsvc"
# Uploads wait for processing; a cold start of the processing function takes seconds.
COMMAND_TIMEOUT = 180

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def imgsvc(tmp_path: Path, user: str, deployed_api: ImageApi) -> Run:
    """``imgsvc ARGS`` in a scratch folder, signed in as this test's user (``as_user`` for another)."""
    assert IMGSVC.exists(), f"{IMGSVC} is not installed: `make up` installs it"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("IMGSVC_")} | {
        "IMGSVC_CONFIG_DIR": str(tmp_path / "config")
    }
    tokens: dict[str, str] = {}

    def run(*args: str, as_user: str = user, check_exit: int | None = 0) -> subprocess.CompletedProcess[str]:
        if as_user not in tokens:
            printed = subprocess.run(
                [IMGSVC, "token", "--user", as_user],
                cwd=tmp_path,
                env=environment,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
            assert printed.returncode == 0, printed.stderr
            tokens[as_user] = printed.stdout.strip()
        result = subprocess.run(
            [IMGSVC, *args],
            cwd=tmp_path,
            env=environment | {"IMGSVC_TOKEN": tokens[as_user]},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check_exit is not None:
            assert result.returncode == check_exit, (
                f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        assert "Traceback" not in result.stderr
        return result

    return run


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.strip().splitlines()]


def uploaded_ids(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The file name -> image id of the files an upload made available."""
    return {row[-1]: row[0] for row in rows(result.stdout) if row[1] == "available"}


def remember(deployed_api: ImageApi, user: str, image_ids: Any) -> None:
    # Deleted at the end of the session should the test stop before its own `imgsvc rm`.
    deployed_api.created.extend((user, image_id) for image_id in image_ids)


def test_upload_list_download_and_delete_with_imgsvc(
    imgsvc: Run, tmp_path: Path, user: str, deployed_api: ImageApi
) -> None:
    # Given a JPEG with EXIF (orientation 6, GPS), a PNG, and a text file named like a photo
    photo, drawing = images.jpeg_rotated_with_gps(), images.png(48, 32, seed=7)
    (tmp_path / "photo.jpg").write_bytes(photo)
    (tmp_path / "drawing.png").write_bytes(drawing)
    (tmp_path / "notes.jpg").write_text("a shopping list, not a photo\n")
    tag = unique_tag("imgsvc")

    # When all three are uploaded with tags
    upload = imgsvc(
        "upload", "photo.jpg", "drawing.png", "notes.jpg", "--tags", f"{tag},Holiday", check_exit=5
    )

    # Then two are available and the text file is refused with the service's reason, in argument order
    ids = uploaded_ids(upload)
    remember(deployed_api, user, ids.values())
    assert [row[1:] for row in rows(upload.stdout)] == [
        ["available", "photo.jpg"],
        ["available", "drawing.png"],
        ["refused", "unsupported_format", "notes.jpg"],
    ]

    # And listing by tag shows both, as a table with whole ids
    table = rows(imgsvc("ls", "--tag", tag).stdout)
    assert table[0] == ["id", "created", "size", "dimensions", "tags", "visibility"]
    listed = {row[0]: row for row in table[1:]}
    assert set(listed) == set(ids.values())
    assert listed[ids["drawing.png"]][-3:] == ["48x32", f"{tag},holiday", "private"]

    # And as one JSON document with the facts found in the bytes
    document = json.loads(imgsvc("ls", "--tag", tag, "--json").stdout)
    assert document["next_cursor"] is None
    by_id = {item["image_id"]: item for item in document["items"]}
    assert set(by_id) == set(ids.values())
    assert (by_id[ids["photo.jpg"]]["format"], by_id[ids["photo.jpg"]]["exif_orientation"]) == ("JPEG", 6)
    assert by_id[ids["drawing.png"]]["tags"] == [tag, "holiday"]

    # And the originals download byte for byte, named after the image with their type's extension
    (tmp_path / "out").mkdir()
    for name, data, extension in (("photo.jpg", photo, ".jpg"), ("drawing.png", drawing, ".png")):
        written = imgsvc("download", ids[name], "-o", "out").stdout.strip()
        assert written == f"out/{ids[name]}{extension}"
        assert (tmp_path / written).read_bytes() == data

    # And the thumbnail is an upright WebP (the 400x200 landscape, rotated by its EXIF orientation)
    written = imgsvc("download", ids["photo.jpg"], "--variant", "thumbnail", "-o", "out").stdout.strip()
    assert written == f"out/{ids['photo.jpg']}-thumbnail.webp"
    with Image.open(tmp_path / written) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("WEBP", (128, 256))

    # When both are deleted
    deleted = imgsvc("rm", *ids.values())

    # Then they are gone
    assert deleted.stdout.splitlines() == [f"deleted {image_id}" for image_id in ids.values()]
    gone = imgsvc("info", ids["photo.jpg"], check_exit=3)
    assert gone.stderr.startswith("imgsvc: error: ")
    assert rows(imgsvc("ls", "--tag", tag).stdout) == [
        ["id", "created", "size", "dimensions", "tags", "visibility"]
    ]


def test_imgsvc_errors_are_one_line_with_their_exit_status(
    imgsvc: Run, tmp_path: Path, user: str, deployed_api: ImageApi
) -> None:
    # Given a public image of this test's user
    (tmp_path / "cat.png").write_bytes(images.png(seed=3))
    tag = unique_tag("imgsvc-errors")
    ids = uploaded_ids(imgsvc("upload", "cat.png", "--public", "--tags", tag))
    remember(deployed_api, user, ids.values())
    (image_id,) = ids.values()

    def fails(expected: int, *args: str, as_user: str = user) -> str:
        result = imgsvc(*args, as_user=as_user, check_exit=expected)
        assert result.stderr.startswith("imgsvc: error: ")
        assert result.stderr.count("\n") == 1, result.stderr
        return result.stderr

    # Then another user sees it among the public ones, but may not delete it: forbidden (4)
    other = f"{user}-other"
    public = json.loads(imgsvc("ls", "--public", "--tag", tag, "--json", as_user=other).stdout)
    assert [item["image_id"] for item in public["items"]] == [image_id]
    assert "forbidden" in fails(4, "rm", image_id, as_user=other)
    # An id nobody uploaded: not found (3)
    assert "not_found" in fails(3, "download", "0123456789abcdef0123456789abcdef")
    # A parameter the service refuses: usage (2)
    assert "invalid_parameter" in fails(2, "ls", "--from", "not-a-date")
    # A forged token: forbidden (4)
    assert "unauthorized" in fails(4, "--token", "not.a.token", "ls")
    # Nothing listening: network (6)
    assert "cannot reach http://127.0.0.1:9" in fails(6, "--api-url", "http://127.0.0.1:9/", "ls")


def test_imgsvc_edit_changes_tags_description_and_visibility(
    imgsvc: Run, tmp_path: Path, user: str, deployed_api: ImageApi
) -> None:
    # Given a public image with two tags and a description
    (tmp_path / "cat.png").write_bytes(images.png(seed=11))
    old, new = unique_tag("imgsvc-old"), unique_tag("imgsvc-new")
    ids = uploaded_ids(
        imgsvc("upload", "cat.png", "--public", "--tags", f"{old},keep", "--description", "first")
    )
    remember(deployed_api, user, ids.values())
    (image_id,) = ids.values()
    other = f"{user}-other"

    # When its owner replaces a tag, the description, and makes it private
    edited = json.loads(
        imgsvc(
            "edit", image_id, "--tags", f"{new},keep", "--description", "second", "--private", "--json"
        ).stdout
    )

    # Then the answer is the updated image
    assert (set(edited["tags"]), edited["description"], edited["visibility"]) == (
        {new, "keep"},
        "second",
        "private",
    )
    # And every listing agrees at once: the new tag finds it, the old one does not, nor the public listing
    assert [
        item["image_id"] for item in json.loads(imgsvc("ls", "--tag", new, "--json").stdout)["items"]
    ] == [image_id]
    assert json.loads(imgsvc("ls", "--tag", old, "--json").stdout)["items"] == []
    public = imgsvc("ls", "--public", "--tag", new, "--json", as_user=other).stdout
    assert json.loads(public)["items"] == []
    # And someone else can neither see it now (not found) nor, once public again, change it (forbidden)
    imgsvc("edit", image_id, "--tags", "mine", as_user=other, check_exit=3)
    imgsvc("edit", image_id, "--public")
    refused = imgsvc("edit", image_id, "--tags", "mine", as_user=other, check_exit=4)
    assert refused.stderr.startswith("imgsvc: error: ")
    shown = json.loads(imgsvc("info", image_id, "--json", as_user=other).stdout)
    assert (set(shown["tags"]), shown["visibility"]) == ({new, "keep"}, "public")

    imgsvc("rm", image_id)
