"""Who a request acts for, and what that caller may do with an image.

The caller comes from a verified bearer token (``image_api.auth``), or, with authentication
off, from the request's ``user_id`` parameter. Only the API functions have callers: processing
is invoked by S3 and Lambda, and takes an image's owner from its record.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from image_api.parameters import UserId
from image_core.errors import InvalidParameter
from image_core.image import Image
from image_core.schema import ImageStatus, Visibility

# What a request's user_id parameter is told when authentication is on.
USER_ID_FROM_IDENTITY = "is not accepted: who you are comes from your bearer token"

_user_id = TypeAdapter(UserId)


@dataclass(frozen=True)
class Caller:
    """Who a request acts for.

    ``verified``: proven by a token. Unverified callers exist only with authentication off
    (``AUTH_MODE=none``), where the ``user_id`` parameter names the actor, as the service
    did before it had identities; nobody named there means anybody, with access to all.
    """

    user_id: str | None
    verified: bool

    @classmethod
    def signed_in(cls, user_id: str) -> Caller:
        return cls(user_id=user_id, verified=True)

    @classmethod
    def named(cls, user_id: str | None) -> Caller:
        """An unverified caller, named by a request's ``user_id`` parameter (or by nobody)."""
        return cls(user_id=None, verified=False).acting_as(user_id)

    def acting_as(self, user_id: str | None) -> Caller:
        """This caller once a request's ``user_id`` parameter (query string or body) is applied.

        With authentication on the parameter is refused rather than ignored, so that a client
        still written for the old API learns why instead of silently acting as itself.
        """
        if user_id is None:
            return self
        if self.verified:
            raise InvalidParameter("user_id", USER_ID_FROM_IDENTITY)
        if self.user_id is not None:
            raise InvalidParameter("user_id", "given both in the query string and in the body; give it once")
        try:
            return Caller(user_id=_user_id.validate_python(user_id), verified=False)
        except ValidationError as error:
            raise InvalidParameter("user_id", error.errors()[0]["msg"]) from None

    def owner_of_upload(self) -> str:
        """Who owns an image this caller uploads: the caller (with authentication off, the user
        the request names, which it must)."""
        if self.user_id is None:
            raise InvalidParameter("user_id", "is required")
        return self.user_id

    def images_to_list(self, *, public: bool) -> str | None:
        """Whose images a list shows: the caller's own, or (None) the public ones.

        With authentication off and nobody named, None without ``public`` means everyone's.
        """
        if public and not self.verified and self.user_id is not None:
            message = "'public' lists every user's public images; leave out user_id"
            raise InvalidParameter("visibility", message)
        return None if public else self.user_id

    def may_see(self, image: Image) -> bool:
        """Own images in any state; other users' only when public and available."""
        if self.user_id is None:
            return True
        return image.user_id == self.user_id or (
            image.visibility is Visibility.PUBLIC and image.status is ImageStatus.AVAILABLE
        )

    def may_change(self, image: Image) -> bool:
        """Only the owner edits or deletes (or anybody, with authentication off and nobody named)."""
        return self.user_id is None or image.user_id == self.user_id

    def view_of(self, image: Image) -> Image:
        """``image`` as this caller is shown it (one it may see).

        ``duplicate_of`` names an earlier image of the owner's, which may well be private: to
        anyone else that id would reveal an image they may not see, so only the owner is told.
        """
        if self.user_id is None or image.user_id == self.user_id or image.duplicate_of is None:
            return image
        return image.without_duplicate_hint()
