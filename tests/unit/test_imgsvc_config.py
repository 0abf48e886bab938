"""imgsvc's configuration: content types from bytes, where the API is, and development tokens."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner

from imgsvc import ConfigurationError, config, sniff
from imgsvc.cli import EXIT_OK, EXIT_USAGE, cli
from localcloud.dev_issuer import DevIssuer
from tests import images

REPOSITORY = Path(__file__).resolve().parents[2]

# --- content types from bytes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (images.jpeg(), "image/jpeg"),
        (images.jpeg_rotated_with_gps(), "image/jpeg"),
        (images.png(), "image/png"),
        (images.animated_gif(2, 8, 8), "image/gif"),
        (images.webp(8, 8), "image/webp"),
        (images.heic(64, 64), "image/heic"),
    ],
)
def test_accepted_formats_are_told_from_their_bytes(data: bytes, content_type: str) -> None:
    assert sniff.content_type_of(data[: sniff.HEADER_BYTES]) == content_type


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    payload = b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible)
    return (len(payload) + 4).to_bytes(4, "big") + payload + b"\0" * 32


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (ftyp(b"mif1", b"mif1", b"heic"), "image/heic"),
        (ftyp(b"mif1", b"mif1", b"miaf"), "image/heif"),
        (ftyp(b"avif", b"mif1", b"miaf"), None),  # AVIF: the HEIF container, but AV1 inside
        (ftyp(b"isom", b"mp41"), None),  # an MP4 video
        (b"BM" + b"\0" * 60, None),  # a BMP
        (b"%PDF-1.7\n", None),
        (b"just text", None),
        (b"", None),
        (b"RIFF\0\0\0\0WAVE", None),
    ],
)
def test_other_bytes_are_no_accepted_format(data: bytes, content_type: str | None) -> None:
    assert sniff.content_type_of(data[: sniff.HEADER_BYTES]) == content_type


# --- where the API is --------------------------------------------------------------------------------


def local_checkout(root: Path, *, port: int = 4613) -> Path:
    """A folder laid out like a checkout after `make up`: outputs and a development issuer."""
    state = root / ".localcloud"
    state.mkdir(parents=True)
    outputs = {
        "ImageService-local": {
            "ApiId": "abc123",
            "ApiStageName": "local",
            "ApiUrl": f"https://abc123.execute-api.127.0.0.1:{port}/local/",
            "TokenIssuer": "urn:image-service:local-dev-issuer",
        }
    }
    (state / "outputs.json").write_text(json.dumps(outputs))
    DevIssuer.create_or_load(state / "dev-issuer")
    # The project's own development issuer, as in a real checkout.
    (root / "localcloud").symlink_to(REPOSITORY / "localcloud")
    return root


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Not the checkout these tests run from, whose local cloud may well be up.
    monkeypatch.setattr(config, "installed_from", lambda: tmp_path / "installed")
    monkeypatch.delenv("LOCALCLOUD_PORT", raising=False)


def test_the_local_cloud_is_found_from_a_subfolder_on_the_port_it_named(tmp_path: Path) -> None:
    root = local_checkout(tmp_path / "project")
    (root / "photos").mkdir()

    target = config.resolve_target(None, None, cwd=root / "photos")

    assert target.api_url == "http://127.0.0.1:4613/_aws/execute-api/abc123/local/"
    assert target.local_checkout == root


def test_localcloud_port_overrides_the_port_in_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = local_checkout(tmp_path)
    monkeypatch.setenv("LOCALCLOUD_PORT", "4700")

    assert config.resolve_target(None, None, cwd=root).api_url.startswith("http://127.0.0.1:4700/")


def test_imgsvc_run_elsewhere_uses_the_checkout_it_was_installed_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = local_checkout(tmp_path / "installed")
    (tmp_path / "elsewhere").mkdir()

    target = config.resolve_target(None, None, cwd=tmp_path / "elsewhere")

    assert target.local_checkout == installed


def test_a_url_given_wins_and_is_not_taken_for_the_local_cloud(tmp_path: Path) -> None:
    root = local_checkout(tmp_path)

    target = config.resolve_target("https://x.execute-api.eu-west-1.amazonaws.com/dev/", None, cwd=root)

    assert (target.api_url, target.is_local, target.outputs) == (
        "https://x.execute-api.eu-west-1.amazonaws.com/dev/",
        False,
        {},
    )


def test_an_aws_outputs_file_gives_its_api_url_and_user_pool(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs-dev.json"
    outputs.write_text(
        json.dumps(
            {
                "ImageService-dev": {
                    "ApiUrl": "https://x.execute-api.eu-west-1.amazonaws.com/dev/",
                    "UserPoolClientId": "client123",
                    "Region": "eu-west-1",
                    "TokenIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
                }
            }
        )
    )

    target = config.resolve_target(None, outputs, cwd=tmp_path)

    assert target.api_url == "https://x.execute-api.eu-west-1.amazonaws.com/dev/"
    assert (target.is_local, target.outputs["UserPoolClientId"]) == (False, "client123")


@pytest.mark.parametrize(
    ("content", "says"),
    [("{not json", "not a stack outputs file"), ('{"Other": {}}', "holds no ImageService-* stack")],
)
def test_a_broken_outputs_file_says_what_is_wrong(tmp_path: Path, content: str, says: str) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(content)

    with pytest.raises(ConfigurationError, match=re.escape(says)):
        config.resolve_target(None, outputs, cwd=tmp_path)


def test_without_any_configuration_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no API URL: pass --api-url or set IMGSVC_API_URL"):
        config.resolve_target(None, None, cwd=tmp_path)


# --- development tokens --------------------------------------------------------------------------------


def test_token_prints_a_development_token_for_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = local_checkout(tmp_path)
    monkeypatch.chdir(root)

    result = CliRunner().invoke(cli, ["token", "--user", "alice", "--expires-in", "600"])

    assert result.exit_code == EXIT_OK, result.output
    issuer = DevIssuer.load(root / ".localcloud" / "dev-issuer")
    claims = jwt.decode(
        result.stdout.strip(), issuer.key.public_key(), algorithms=["ES256"], audience=issuer.audience
    )
    assert (claims["sub"], claims["exp"] - claims["iat"]) == ("alice", 600)


def test_token_is_for_the_local_cloud_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(local_checkout(tmp_path))

    result = CliRunner().invoke(
        cli, ["--api-url", "https://x.execute-api.eu-west-1.amazonaws.com/dev/", "token", "--user", "alice"]
    )

    assert result.exit_code == EXIT_USAGE
    assert "tokens are minted for the local cloud only" in result.stderr


def test_token_refuses_a_user_id_the_service_would_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(local_checkout(tmp_path))

    result = CliRunner().invoke(cli, ["token", "--user", "alice smith"])

    assert result.exit_code == EXIT_USAGE
    assert "not a user id" in result.stderr


def test_on_the_local_cloud_a_missing_token_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(local_checkout(tmp_path))
    monkeypatch.delenv("IMGSVC_TOKEN", raising=False)
    monkeypatch.setenv("IMGSVC_CONFIG_DIR", str(tmp_path / "config"))

    result = CliRunner().invoke(cli, ["ls"])

    assert result.exit_code == EXIT_USAGE
    assert "export IMGSVC_TOKEN=$(imgsvc token --user NAME)" in result.stderr
