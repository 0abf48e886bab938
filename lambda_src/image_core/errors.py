"""Domain errors: what went wrong in terms a caller can act on.

The API layer maps each class to one HTTP status and error code (``image_api.resolver``), so the
use cases never speak HTTP. The messages are written for callers and must never carry
internal details; anything else that escapes is an internal error and is logged, not shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError


class ImageServiceError(Exception):
    """Base of the errors a caller is told about."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(ImageServiceError):  # noqa: N818 - names from the design brief
    """A request parameter (query string, path, body field or cursor) is not acceptable."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"invalid '{parameter}': {message}")
        self.parameter = parameter


class NotFound(ImageServiceError):  # noqa: N818 - names from the design brief
    """The image does not exist (or is being deleted, which callers cannot tell apart)."""


class Unauthorized(ImageServiceError):  # noqa: N818 - named after the answer, like the others
    """The request carries no token, or one that does not prove who the caller is.

    ``reason`` says what exactly was wrong, for the log only: telling a caller which check a
    forged token failed would help the forger.
    """

    def __init__(self, message: str, *, reason: str, token_presented: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        # RFC 6750: a request without any token gets a challenge without an error code.
        self.token_presented = token_presented


class Forbidden(ImageServiceError):  # noqa: N818 - named after the answer, like the others
    """The caller may see the image but not do this to it (e.g. delete someone else's public image)."""


class Unavailable(ImageServiceError):  # noqa: N818 - named after the answer, like the others
    """Something the service depends on (e.g. the token issuer's keys) cannot be reached; retry later."""


class Conflict(ImageServiceError):  # noqa: N818 - names from the design brief
    """The image exists but its state does not allow the operation now."""


class ChangedSinceRead(Conflict):
    """A conditional write lost: the record changed (or went) since it was read.

    Not meant for callers as such: whoever wrote reads again and decides anew (retry), and
    only answers ``Conflict`` if the record keeps changing.
    """


class RateLimited(ImageServiceError):  # noqa: N818 - names from the design brief
    """AWS throttled us even after the SDK's retries; the caller should back off and retry."""

    def __init__(self) -> None:
        super().__init__("too many requests, retry later")


# Error codes AWS answers with when throttling. botocore has retried them already by the
# time they reach us, so they are the caller's to back off from.
_THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "SlowDown",
    }
)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


@contextmanager
def throttling_as_rate_limited() -> Iterator[None]:
    """Turn AWS throttling into ``RateLimited``; every other ``ClientError`` passes unchanged."""
    try:
        yield
    except ClientError as error:
        if error_code(error) in _THROTTLING_CODES:
            raise RateLimited from error
        raise
