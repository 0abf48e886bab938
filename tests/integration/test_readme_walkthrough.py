"""The README's walkthrough, run as written against the deployed service."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from localcloud.outputs import README, WALKTHROUGH_BLOCK

ROOT = README.parent

pytestmark = pytest.mark.integration


def walkthrough_script() -> str:
    match = WALKTHROUGH_BLOCK.search(README.read_text())
    assert match, "README.md has no ```sh block after <!-- walkthrough:start -->"
    return match.group("script")


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    # Given the commands exactly as the README shows them, run from a scratch folder where
    # `make` means the project's make (the README says: at the project's root)
    script = f'set -euo pipefail\nmake() {{ command make -C "{ROOT}" "$@"; }}\n' + walkthrough_script()

    # When a user pastes them into bash
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=180)

    # Then every command succeeds, the download equals the upload, and the image ends deleted
    assert result.returncode == 0, f"walkthrough failed:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "downloaded.png").read_bytes() == (tmp_path / "cat.png").read_bytes()
    assert result.stdout.strip().splitlines()[-3:] == ["WEBP", "204", "404"]
    assert '"status":"available"' in result.stdout
    assert '"tags":["cat","holiday"]' in result.stdout
    # And the edit answered the image as changed, and bob found it by its new tag at once
    image_id = json.loads((tmp_path / "upload.json").read_text())["image_id"]
    edited, found_by_new_tag = [
        json.loads(line) for line in result.stdout.splitlines() if "Mia in the sun" in line
    ]
    assert (edited["image_id"], edited["tags"]) == (image_id, ["cat", "garden"])
    assert found_by_new_tag["items"][0]["image_id"] == image_id
    # And the record told the facts of the 2x2 PNG, whose thumbnail is a 2x2 WebP (never scaled up)
    assert '"width":2,"height":2,"format":"PNG"' in result.stdout
    thumbnail = Image.open(tmp_path / "thumbnail.webp")
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (2, 2))
