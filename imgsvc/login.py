"""Signing in to a stack's Cognito user pool, and the tokens cached between commands.

``imgsvc login`` uses the ``USER_PASSWORD_AUTH`` flow the stack's public app client allows
(the password goes to Cognito over TLS, never to the API), and caches the tokens in the
user's configuration folder (``$XDG_CONFIG_HOME/imgsvc``, else ``~/.config/imgsvc``; or
``IMGSVC_CONFIG_DIR``), readable by the user only. Later commands send the access token, and
when it is about to expire get a new one with the refresh token (``REFRESH_TOKEN_AUTH``),
until that expires too (30 days for the stack's client) and ``imgsvc login`` is needed again.

Cognito's InitiateAuth needs no AWS credentials: requests are sent unsigned.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from imgsvc.errors import ConfigurationError, ImgsvcError, NetworkError

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

CREDENTIALS_FILE = "credentials.json"
# A token this close to its expiry is refreshed before use: a slow upload must not outlive it.
REFRESH_MARGIN_SECONDS = 120


class LoginFailed(ImgsvcError):  # noqa: N818 - says what happened, like UploadRefused
    """Cognito refused the sign-in or the refresh (wrong password, unknown user, expired refresh token)."""


@dataclass(frozen=True)
class Session:
    """One user's tokens for one API, as cached."""

    api_url: str
    region: str
    client_id: str
    username: str
    access_token: str
    id_token: str
    refresh_token: str
    expires_at: float

    def expires_soon(self, now: float) -> bool:
        return now >= self.expires_at - REFRESH_MARGIN_SECONDS


def config_dir() -> Path:
    if explicit := os.environ.get("IMGSVC_CONFIG_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "imgsvc"


def cognito_client(region: str) -> CognitoIdentityProviderClient:
    return boto3.client("cognito-idp", region_name=region, config=Config(signature_version=UNSIGNED))


def sign_in(
    *,
    api_url: str,
    region: str,
    client_id: str,
    username: str,
    password: str,
    cognito: CognitoIdentityProviderClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Session:
    """Tokens for ``username`` from the user pool's app client (``USER_PASSWORD_AUTH``)."""
    cognito = cognito or cognito_client(region)
    answer = _initiate_auth(
        cognito,
        client_id=client_id,
        flow="USER_PASSWORD_AUTH",
        parameters={"USERNAME": username, "PASSWORD": password},
    )
    if "ChallengeName" in answer:
        # e.g. NEW_PASSWORD_REQUIRED for a user an administrator invited with a temporary password.
        raise LoginFailed(
            f"Cognito asks for {answer['ChallengeName']} first: complete it (e.g. set a permanent password) "
            "and log in again"
        )
    result = answer["AuthenticationResult"]
    return Session(
        api_url=api_url,
        region=region,
        client_id=client_id,
        username=username,
        access_token=result["AccessToken"],
        id_token=result.get("IdToken", ""),
        refresh_token=result["RefreshToken"],
        expires_at=clock() + int(result.get("ExpiresIn", 3600)),
    )


def refreshed(
    session: Session,
    *,
    cognito: CognitoIdentityProviderClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Session:
    """The session with new access and ID tokens, from its refresh token."""
    cognito = cognito or cognito_client(session.region)
    try:
        answer = _initiate_auth(
            cognito,
            client_id=session.client_id,
            flow="REFRESH_TOKEN_AUTH",
            parameters={"REFRESH_TOKEN": session.refresh_token},
        )
    except LoginFailed as error:
        raise LoginFailed(
            f"the sign-in of {session.username} expired: run `imgsvc login` ({error})"
        ) from error
    result = answer["AuthenticationResult"]
    return replace(
        session,
        access_token=result["AccessToken"],
        id_token=result.get("IdToken", session.id_token),
        # Cognito rotates the refresh token only when the client is configured to; keep the old one otherwise.
        refresh_token=result.get("RefreshToken", session.refresh_token),
        expires_at=clock() + int(result.get("ExpiresIn", 3600)),
    )


def _initiate_auth(
    cognito: CognitoIdentityProviderClient, *, client_id: str, flow: Any, parameters: dict[str, str]
) -> Any:
    try:
        return cognito.initiate_auth(ClientId=client_id, AuthFlow=flow, AuthParameters=parameters)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in (
            "NotAuthorizedException",
            "UserNotFoundException",
            "PasswordResetRequiredException",
            "UserNotConfirmedException",
        ):
            raise LoginFailed(f"Cognito refused the sign-in: {message or code}") from error
        if code == "ResourceNotFoundException":
            raise ConfigurationError(f"no such user pool app client: {client_id}") from error
        raise ImgsvcError(f"Cognito failed: {code}: {message}") from error
    except BotoCoreError as error:
        raise NetworkError(f"cannot reach Cognito: {error}") from error


class CredentialStore:
    """The cached sessions, one per API URL, in a file only its owner can read."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / CREDENTIALS_FILE

    def get(self, api_url: str) -> Session | None:
        entry = self._read().get(api_url)
        if not isinstance(entry, dict):
            return None
        try:
            return Session(**entry)
        except TypeError:
            return None  # written by another version: as good as absent; `imgsvc login` replaces it

    def put(self, session: Session) -> None:
        sessions = self._read()
        sessions[session.api_url] = asdict(session)
        self._write(sessions)

    def remove(self, api_url: str) -> bool:
        sessions = self._read()
        if sessions.pop(api_url, None) is None:
            return False
        self._write(sessions)
        return True

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"cannot read the cached sign-ins in {self.path}: {error}") from error
        return data if isinstance(data, dict) else {}

    def _write(self, sessions: dict[str, Any]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        # Created owner-only from the start (never readable by others, not even briefly), then
        # renamed over the old file so that a crash leaves the old one or the new one whole.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                json.dump(sessions, file, indent=2)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


class CachedLogin:
    """A token source for :class:`imgsvc.Client`: the cached access token, refreshed when due."""

    def __init__(
        self,
        store: CredentialStore,
        session: Session,
        *,
        cognito: CognitoIdentityProviderClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.session = session
        self._cognito = cognito
        self._clock = clock
        # Uploads call the API from several threads: one refresh for all of them.
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self.session.expires_soon(self._clock()):
                self.session = refreshed(self.session, cognito=self._cognito, clock=self._clock)
                self.store.put(self.session)
            return self.session.access_token
