"""The local development issuer (``localcloud/dev_issuer.py``): no LocalStack needed.

Its tokens must pass the very verifier the deployed functions use, configured from the
``issuer.json`` that ``make up`` hands to the CDK app.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from image_api.auth import InlineJwks, TokenVerifier
from image_core.errors import Unauthorized
from localcloud.dev_issuer import DESCRIPTION_FILE, KEY_FILE, DevIssuer, main


def verifier_from(directory: Path) -> TokenVerifier:
    described = json.loads((directory / DESCRIPTION_FILE).read_text())
    return TokenVerifier(
        issuer=described["issuer"], audiences=[described["audience"]], keys=InlineJwks(described["jwks"])
    )


def test_the_key_pair_is_made_once_and_only_its_owner_may_read_the_private_key(tmp_path: Path) -> None:
    first, created = DevIssuer.create_or_load(tmp_path)
    again, created_again = DevIssuer.create_or_load(tmp_path)

    assert (created, created_again) == (True, False)
    assert first.kid == again.kid
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_issuer_json_holds_the_public_key_only(tmp_path: Path) -> None:
    DevIssuer.create_or_load(tmp_path)

    described = json.loads((tmp_path / DESCRIPTION_FILE).read_text())

    (key,) = described["jwks"]["keys"]
    assert {key["kty"], key["crv"], key["alg"], key["use"]} == {"EC", "P-256", "ES256", "sig"}
    assert "d" not in key


def test_its_tokens_pass_the_functions_verifier(tmp_path: Path) -> None:
    issuer, _ = DevIssuer.create_or_load(tmp_path)

    caller = verifier_from(tmp_path).caller_from(f"Bearer {issuer.token('alice')}")

    assert (caller.user_id, caller.verified) == ("alice", True)


def test_an_expired_token_of_it_is_refused(tmp_path: Path) -> None:
    issuer, _ = DevIssuer.create_or_load(tmp_path)

    with pytest.raises(Unauthorized):
        verifier_from(tmp_path).caller_from(f"Bearer {issuer.token('alice', expires_in=-120)}")


def test_another_checkouts_issuer_is_not_trusted(tmp_path: Path) -> None:
    ours, _ = DevIssuer.create_or_load(tmp_path / "ours")
    theirs, _ = DevIssuer.create_or_load(tmp_path / "theirs")

    with pytest.raises(Unauthorized):
        verifier_from(tmp_path / "ours").caller_from(f"Bearer {theirs.token('alice')}")
    assert ours.kid != theirs.kid


def test_make_token_prints_only_the_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--dir", str(tmp_path), "token", "alice"])

    printed = capsys.readouterr()
    (token,) = printed.out.splitlines()
    assert verifier_from(tmp_path).caller_from(f"Bearer {token}").user_id == "alice"
    assert "created a signing key" in printed.err


def test_a_name_that_is_no_user_id_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not a user id"):
        main(["--dir", str(tmp_path), "token", "alice smith"])
