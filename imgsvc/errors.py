"""What can go wrong, as exceptions a script can catch by kind.

Every error the client raises is an :class:`ImgsvcError` with a one-line message fit to show
a person. The API's own answers become :class:`ApiError` subclasses by status, carrying the
service's error ``code`` and ``message`` (the ``{"error": {"code", "message"}}`` envelope).
"""

from __future__ import annotations

from typing import Any

import httpx


class ImgsvcError(Exception):
    """Anything the client cannot do; ``str(error)`` is one line for a person."""


class ConfigurationError(ImgsvcError):
    """The client does not know where the API is or who is calling (no URL, no token, no login)."""


class NetworkError(ImgsvcError):
    """The API or the storage could not be reached, or did not answer in time."""


class UploadRefused(ImgsvcError):  # noqa: N818 - named after the answer, as the service names them
    """A file that did not become an image: refused before sending, by the storage, or by the service.

    ``reason`` is the service's word where there is one (``unsupported_format``, ``corrupt``,
    ``too_many_pixels``, ...), so a refusal reads the same whichever side made it.
    """

    def __init__(
        self, reason: str, message: str, *, image_id: str | None = None, status: str = "refused"
    ) -> None:
        super().__init__(message)
        self.reason = reason
        # The image registered for it, if it got that far; its status: rejected or failed when
        # the service processed the bytes and refused them, refused otherwise.
        self.image_id = image_id
        self.status = status


class ProcessingTimeout(ImgsvcError):  # noqa: N818 - named after the answer, as the service names them
    """An upload whose processing did not finish within the time the caller was ready to wait."""

    def __init__(self, image_id: str, waited: float) -> None:
        super().__init__(f"{image_id} is still pending after {waited:.0f} s")
        self.image_id = image_id


class ApiError(ImgsvcError):
    """An error answer of the API: its HTTP status, and the service's ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})" if message else f"{code} (HTTP {status})")
        self.status = status
        self.code = code
        self.message = message


class InvalidParameter(ApiError):  # noqa: N818 - named after the answer, as the service names them
    """400: a parameter the service refused; its message names it."""


class Unauthorized(ApiError):  # noqa: N818 - named after the answer, as the service names them
    """401: no token, or one the service does not accept (expired, another issuer)."""


class Forbidden(ApiError):  # noqa: N818 - named after the answer, as the service names them
    """403: visible to the caller, but not theirs to change."""


class NotFound(ApiError):  # noqa: N818 - named after the answer, as the service names them
    """404: no such image, or one the caller may not see."""


class Conflict(ApiError):  # noqa: N818 - named after the answer, as the service names them
    """409: not in a state that allows it (e.g. downloading an image that is not available)."""


class RateLimited(ApiError):  # noqa: N818 - named after the answer, as the service names them
    """429: throttled; try again later."""


class ServiceError(ApiError):
    """5xx: the service failed; its details are in its logs, not in the answer."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidParameter,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def api_error(response: httpx.Response) -> ApiError:
    """The exception for an error answer, read from the error envelope when it has one."""
    code, message = _envelope(response)
    status = response.status_code
    kind = _BY_STATUS.get(status, ServiceError if status >= 500 else ApiError)
    return kind(status, code or response.reason_phrase.lower().replace(" ", "_") or "error", message)


def _envelope(response: httpx.Response) -> tuple[str, str]:
    try:
        body: Any = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    # API Gateway's own answers (e.g. throttling) carry {"message": ...} only.
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return "", body["message"]
    return "", ""
