"""imgsvc login against moto's Cognito: sign-in, the cached tokens, their refresh."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from imgsvc import config
from imgsvc.cli import EXIT_FORBIDDEN, EXIT_OK, EXIT_USAGE, Hooks, cli
from imgsvc.login import REFRESH_MARGIN_SECONDS, CredentialStore
from tests.unit.imgsvc_fake import API, FakeService

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

REGION = "eu-west-1"
PASSWORD = "a-Long-passw0rd!"


@dataclass
class Pool:
    cognito: CognitoIdentityProviderClient
    pool_id: str
    client_id: str


@pytest.fixture
def pool() -> Iterator[Pool]:
    """A user pool like the stack's: a public app client allowing USER_PASSWORD_AUTH, and alice."""
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        pool_id = cognito.create_user_pool(PoolName="images")["UserPool"]["Id"]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="image-cli",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        cognito.admin_create_user(UserPoolId=pool_id, Username="alice", MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username="alice", Password=PASSWORD, Permanent=True
        )
        yield Pool(cognito, pool_id, client_id)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def fake() -> FakeService:
    return FakeService()


@pytest.fixture
def imgsvc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeService, clock: Clock
) -> Callable[..., Result]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMGSVC_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("IMGSVC_TOKEN", raising=False)
    monkeypatch.setattr(config, "installed_from", lambda: tmp_path / "installed")

    def run(*args: str, stdin: str | None = None) -> Result:
        hooks = Hooks(transport=fake.transport, clock=clock)
        return CliRunner().invoke(cli, ["--api-url", API, *args], input=stdin, obj=hooks)

    return run


def login(imgsvc: Callable[..., Result], pool: Pool, password: str = PASSWORD) -> Result:
    return imgsvc(
        "login",
        "--client-id",
        pool.client_id,
        "--region",
        REGION,
        "--username",
        "alice",
        "--password-stdin",
        stdin=password + "\n",
    )


def test_login_caches_the_tokens_readable_by_the_user_only(
    imgsvc: Callable[..., Result], pool: Pool, tmp_path: Path
) -> None:
    result = login(imgsvc, pool)

    assert result.exit_code == EXIT_OK, result.output
    assert "signed in as alice" in result.stderr
    cached = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert stat.S_IMODE(cached.parent.stat().st_mode) == 0o700
    session = json.loads(cached.read_text())[API]
    assert (session["username"], session["client_id"], session["region"]) == ("alice", pool.client_id, REGION)
    assert session["access_token"]
    assert session["refresh_token"]
    # The password is nowhere in it
    assert PASSWORD not in cached.read_text()


def test_later_commands_send_the_cached_access_token(
    imgsvc: Callable[..., Result], pool: Pool, fake: FakeService, tmp_path: Path
) -> None:
    login(imgsvc, pool)
    session = CredentialStore(tmp_path / "config").get(API)
    assert session is not None
    fake.token = session.access_token

    result = imgsvc("ls", "--json")

    assert result.exit_code == EXIT_OK, result.output
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {session.access_token}"


def test_a_token_about_to_expire_is_refreshed_with_the_refresh_token(
    imgsvc: Callable[..., Result], pool: Pool, fake: FakeService, tmp_path: Path, clock: Clock
) -> None:
    # Given a sign-in whose access token expires within the refresh margin
    login(imgsvc, pool)
    store = CredentialStore(tmp_path / "config")
    before = store.get(API)
    assert before is not None
    clock.now = before.expires_at - REFRESH_MARGIN_SECONDS + 1
    fake.token = "whatever the refresh brings"
    seen: list[str] = []

    def listing(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    fake.overrides[f"GET {API}images"] = listing

    # When a command runs
    result = imgsvc("ls")

    # Then it got new tokens from Cognito, cached them, and used the new access token
    assert result.exit_code == EXIT_OK, result.output
    after = store.get(API)
    assert after is not None
    assert after.expires_at > before.expires_at
    assert after.refresh_token == before.refresh_token
    assert seen == [f"Bearer {after.access_token}"]
    # And the refreshed token is one Cognito itself accepts
    user = pool.cognito.get_user(AccessToken=after.access_token)
    assert user["Username"] == "alice"


def test_a_refresh_cognito_refuses_asks_to_log_in_again(
    imgsvc: Callable[..., Result], pool: Pool, tmp_path: Path, clock: Clock
) -> None:
    login(imgsvc, pool)
    store = CredentialStore(tmp_path / "config")
    session = store.get(API)
    assert session is not None
    pool.cognito.admin_user_global_sign_out(UserPoolId=pool.pool_id, Username="alice")
    clock.now = session.expires_at + 1

    result = imgsvc("ls")

    assert result.exit_code == EXIT_FORBIDDEN, result.output
    assert result.stderr.startswith("imgsvc: error: the sign-in of alice expired: run `imgsvc login`")
    assert result.stderr.count("\n") == 1


def test_a_wrong_password_is_refused_and_nothing_is_cached(
    imgsvc: Callable[..., Result], pool: Pool, tmp_path: Path
) -> None:
    result = login(imgsvc, pool, password="wrong")

    assert result.exit_code == EXIT_FORBIDDEN
    assert result.stderr.startswith("imgsvc: error: Cognito refused the sign-in")
    assert not (tmp_path / "config" / "credentials.json").exists()


def test_login_without_a_user_pool_says_which_options_are_missing(imgsvc: Callable[..., Result]) -> None:
    result = imgsvc("login", "--username", "alice", "--password-stdin", stdin="x\n")

    assert result.exit_code == EXIT_USAGE
    assert "pass --client-id and --region" in result.stderr


def test_logout_forgets_the_sign_in(imgsvc: Callable[..., Result], pool: Pool, tmp_path: Path) -> None:
    login(imgsvc, pool)

    result = imgsvc("logout")

    assert result.exit_code == EXIT_OK
    assert CredentialStore(tmp_path / "config").get(API) is None
    assert "not signed in: run `imgsvc login`" in imgsvc("ls").stderr
