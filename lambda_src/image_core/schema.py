"""The metadata table's layout, defined once.

The CDK construct that creates the table, the functions that read and write it, and the
tests all import these names, so the infrastructure and the code cannot drift apart.

One table holds every item of an image, under the partition ``IMAGE#<image_id>``:

* the image item (sort key ``IMAGE``): the record itself;
* one tag item per tag (sort key ``TAG#<tag>``): a copy of the listing attributes, so a
  tag query is answered from the index alone.

The listing indexes are *sparse*: their key attributes are written only while an image is
``available`` (the public index's only while it is also public), so pending, private,
rejected or deleting images cost no reads when listing. Every list filter combination maps
to exactly one index and one partition (see ``ListIndex``), and the sort key
``<created_at>#<image_id>`` makes date ranges a key condition. One more sparse index,
``DUPLICATES``, finds a user's available images by perceptual hash.

The bucket holds each upload under ``originals/`` and the variants derived from it under
``variants/``; only the first prefix notifies the processing function.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PARTITION_KEY = "pk"
SORT_KEY = "sk"

IMAGE_SORT_KEY = "IMAGE"
TAG_SORT_KEY_PREFIX = "TAG#"

# Epoch seconds after which DynamoDB may delete an item (the table's TTL attribute).
TTL_ATTRIBUTE = "expires_at"

# Listing sort key shared by every index: "<created_at ISO-8601 UTC>#<image_id>".
LISTED_AT = "listed_at"


class ImageStatus(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    # The bytes were looked at and refused (the record says why); they are deleted.
    REJECTED = "rejected"
    # Processing kept failing until its retries ran out; the bytes are deleted.
    FAILED = "failed"
    DELETING = "deleting"


class Visibility(StrEnum):
    """Who may see an image besides its owner: nobody (private), or, once available, everyone signed in."""

    PRIVATE = "private"
    PUBLIC = "public"


@dataclass(frozen=True)
class ListIndex:
    """A sparse GSI serving one combination of list filters."""

    name: str
    partition_key: str

    def partition_value(self, *, user_id: str | None = None, tag: str | None = None) -> str:
        return _PARTITION_FORMATS[self.name, tag is not None].format(user_id=user_id, tag=tag)


# Every available image item is in ALL_IMAGES and BY_USER; every available tag item is in
# BY_TAG and BY_USER_TAG. Each key attribute name is unique to its index so that
# writing or removing it adds or removes the item from exactly that index.
ALL_IMAGES = ListIndex(name="all-images", partition_key="all_pk")
BY_USER = ListIndex(name="by-user", partition_key="user_pk")
BY_TAG = ListIndex(name="by-tag", partition_key="tag_pk")
BY_USER_TAG = ListIndex(name="by-user-tag", partition_key="user_tag_pk")
# Available *public* images: the image items under one partition, each tag's items under
# another. One index rather than two because CloudFormation adds at most one GSI to an
# existing table per update.
PUBLIC = ListIndex(name="public", partition_key="public_pk")

LIST_INDEXES: tuple[ListIndex, ...] = (ALL_IMAGES, BY_USER, BY_TAG, BY_USER_TAG, PUBLIC)

# (index, whether the listing is of one tag) -> the partition holding its items.
_PARTITION_FORMATS = {
    (ALL_IMAGES.name, False): "IMAGES",
    (BY_USER.name, False): "USER#{user_id}",
    (BY_TAG.name, True): "TAG#{tag}",
    (BY_USER_TAG.name, True): "USER#{user_id}#TAG#{tag}",
    (PUBLIC.name, False): "PUBLIC",
    (PUBLIC.name, True): "PUBLIC#TAG#{tag}",
}


@dataclass(frozen=True)
class DuplicateIndex:
    """The sparse GSI of available image items by user and perceptual hash."""

    name: str
    partition_key: str
    # The only attribute projected besides the keys: a duplicate is named by its id.
    projected: tuple[str, ...]

    def partition_value(self, *, user_id: str, perceptual_hash: str) -> str:
        return f"USER#{user_id}#DHASH#{perceptual_hash}"


# Sorted by LISTED_AT like the listing indexes, so the oldest equal image is found first.
DUPLICATES = DuplicateIndex(name="by-user-dhash", partition_key="user_dhash_pk", projected=("image_id",))


def image_partition(image_id: str) -> str:
    return f"IMAGE#{image_id}"


def tag_sort_key(tag: str) -> str:
    return f"{TAG_SORT_KEY_PREFIX}{tag}"


def listed_at(created_at: str, image_id: str) -> str:
    return f"{created_at}#{image_id}"


def index_for(*, user_id: str | None, tag: str | None, public: bool = False) -> ListIndex:
    """The one index that answers a list query with these filters.

    ``public``: everyone's public images (by tag, if given), which cannot be narrowed to a user.
    """
    if public:
        if user_id is not None:
            raise ValueError("the public listing spans every user")
        return PUBLIC
    if user_id is not None and tag is not None:
        return BY_USER_TAG
    if user_id is not None:
        return BY_USER
    if tag is not None:
        return BY_TAG
    return ALL_IMAGES


# Object keys in the image bucket. The processing function is notified for this prefix only.
ORIGINALS_PREFIX = "originals/"
# Derived images; outside ORIGINALS_PREFIX, so writing them notifies nobody.
VARIANTS_PREFIX = "variants/"


class Variant(StrEnum):
    """What a download may ask for: the uploaded bytes, or an image derived from them."""

    ORIGINAL = "original"
    PREVIEW = "preview"
    THUMBNAIL = "thumbnail"


DERIVED_VARIANTS: tuple[Variant, ...] = (Variant.PREVIEW, Variant.THUMBNAIL)
VARIANT_CONTENT_TYPE = "image/webp"

# The tag every presigned upload stores its object with, and the value processing sets once the
# bytes are verified. A bucket lifecycle rule expires objects still carrying the upload value:
# the backstop for bytes that no processing ever finished with.
UPLOAD_STATE_TAG = "upload-state"
UNVERIFIED = "unverified"
VERIFIED = "verified"


def original_object_key(image_id: str) -> str:
    return f"{ORIGINALS_PREFIX}{image_id}"


def variants_prefix(image_id: str) -> str:
    return f"{VARIANTS_PREFIX}{image_id}/"


def variant_object_key(image_id: str, revision: str, variant: Variant) -> str:
    """Where ``variant`` of the upload ``revision`` (the original's ETag) is stored.

    The revision in the key means two uploads to the same image never overwrite each other's
    variants, while the same bytes processed twice write the very same objects.
    """
    if variant is Variant.ORIGINAL:
        raise ValueError("the original is stored under original_object_key")
    return f"{variants_prefix(image_id)}{revision}/{variant.value}.webp"
