"""make hotswap's bundle: the last deploy's requirements, the current source, compiled, reproducible."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from localcloud.hotswap import NeedsDeployError, bundle_zip, deployed_bundle, source_hash

STACK = "ImageService-test"


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """A source tree and a cdk.out whose template names the deployed bundle of image_api."""
    source = tmp_path / "lambda_src"
    cdk_out = tmp_path / "cdk.out"
    bundle = cdk_out / "asset.abc123"
    for root in (source, bundle):
        for relative, text in {
            "image_core/__init__.py": "",
            "image_api/__init__.py": "",
            "image_api/get_image.py": "def handler(event, context): return 1\n",
            "image_api/requirements.txt": "pydantic==2.14.4\n",
        }.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text)
    (bundle / "pydantic").mkdir()
    (bundle / "pydantic" / "__init__.py").write_text("VERSION = '2.14.4'\n")
    template = {
        "Resources": {
            "GetImage": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Handler": "image_api.get_image.handler", "Code": {"S3Key": "abc123.zip"}},
            }
        }
    }
    (cdk_out / f"{STACK}.template.json").write_text(json.dumps(template))
    return source, cdk_out


def test_the_deployed_bundle_is_the_one_the_template_names(trees: tuple[Path, Path]) -> None:
    _, cdk_out = trees
    (cdk_out / "asset.newer-but-not-deployed" / "image_api").mkdir(parents=True)

    assert deployed_bundle("image_api", STACK, cdk_out) == cdk_out / "asset.abc123"


def test_the_zip_holds_the_installed_requirements_and_the_current_source_compiled(
    trees: tuple[Path, Path],
) -> None:
    source, cdk_out = trees
    (source / "image_api" / "get_image.py").write_text("def handler(event, context): return 2\n")

    data = bundle_zip(
        "image_api", STACK, source_root=source, cdk_out=cdk_out, zip_cache=cdk_out.parent / "zips"
    )

    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    assert "pydantic/__init__.py" in names
    assert archive.read("image_api/get_image.py") == b"def handler(event, context): return 2\n"
    assert "image_api/__pycache__/get_image.cpython-313.pyc" in names


def test_the_same_source_gives_the_same_zip(trees: tuple[Path, Path]) -> None:
    source, cdk_out = trees

    first = bundle_zip(
        "image_api", STACK, source_root=source, cdk_out=cdk_out, zip_cache=cdk_out.parent / "zips"
    )

    assert (
        bundle_zip("image_api", STACK, source_root=source, cdk_out=cdk_out, zip_cache=cdk_out.parent / "zips")
        == first
    )


def test_a_changed_requirements_file_needs_a_deploy(trees: tuple[Path, Path]) -> None:
    source, cdk_out = trees
    (source / "image_api" / "requirements.txt").write_text("pydantic==2.15.0\n")

    with pytest.raises(NeedsDeployError, match=r"requirements\.txt changed"):
        bundle_zip("image_api", STACK, source_root=source, cdk_out=cdk_out, zip_cache=cdk_out.parent / "zips")


def test_the_source_hash_ignores_bytecode_and_sees_every_source_change(trees: tuple[Path, Path]) -> None:
    source, cdk_out = trees
    packages = ("image_core", "image_api")
    (cdk_out / "asset.abc123" / "image_api" / "__pycache__").mkdir()
    (cdk_out / "asset.abc123" / "image_api" / "__pycache__" / "get_image.cpython-313.pyc").write_bytes(b"x")

    assert source_hash(source, packages) == source_hash(cdk_out / "asset.abc123", packages)
    (source / "image_core" / "__init__.py").write_text("# changed\n")
    assert source_hash(source, packages) != source_hash(cdk_out / "asset.abc123", packages)
