"""The README's walkthroughs (curl, and imgsvc), run as written against the deployed service."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from localcloud.outputs import README, WALKTHROUGH_BLOCK

ROOT = README.parent
IMGSVC_WALKTHROUGH_BLOCK = re.compile(
    r"<!-- imgsvc-walkthrough:start -->\s*```sh\n(?P<script>.*?)```", re.DOTALL
)

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


def test_readme_imgsvc_walkthrough_runs_as_written(tmp_path: Path) -> None:
    # Given the imgsvc walkthrough as the README shows it, with the project's venv on the PATH
    # (as `source .venv/bin/activate` puts it), run from a scratch folder
    match = IMGSVC_WALKTHROUGH_BLOCK.search(README.read_text())
    assert match, "README.md has no ```sh block after <!-- imgsvc-walkthrough:start -->"
    script = "set -euo pipefail\n" + match.group("script")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("IMGSVC_")}
    environment["PATH"] = f"{ROOT / '.venv' / 'bin'}:{environment['PATH']}"
    environment["IMGSVC_CONFIG_DIR"] = str(tmp_path / "config")

    # When a user pastes it into bash
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300
    )

    # Then every command succeeds; the text file was refused with the service's reason, the image
    # was available, downloaded byte for byte with its thumbnail, and deleted
    assert result.returncode == 0, f"walkthrough failed:\n{result.stdout}\n{result.stderr}"
    assert "exit 5" in result.stdout
    uploaded = (tmp_path / "uploaded.txt").read_text().splitlines()
    assert [line.split()[1:] for line in uploaded] == [
        ["available", "cat.png"],
        ["refused", "unsupported_format", "notes.jpg"],
    ]
    image_id = uploaded[0].split()[0]
    assert (tmp_path / f"{image_id}.png").read_bytes() == (tmp_path / "cat.png").read_bytes()
    thumbnail = Image.open(tmp_path / f"{image_id}-thumbnail.webp")
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (2, 2))
    assert result.stdout.strip().splitlines()[-1] == f"deleted {image_id}"
    assert "Traceback" not in result.stderr
    # And the edit answered the image as changed
    edited = [[part.strip() for part in line.split(maxsplit=1)] for line in result.stdout.splitlines()]
    assert ["description", "Mia in the sun"] in edited
    assert ["tags", "cat,garden"] in edited
