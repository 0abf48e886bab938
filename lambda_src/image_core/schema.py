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

No partition is shared by every user's writes. The indexes whose partitions span users
(``ALL_IMAGES``, ``BY_TAG``, ``PUBLIC``) are *sharded*: an item goes to the partition
``<partition>#<shard>``, its shard a stable hash of its image id, and a listing reads every
shard of its partition at once and merges them (``ListingLayout``). ``ALL_IMAGES`` and
``BY_TAG`` are only read when authentication is off, so only then written. Items written
before sharding sit in the unsharded ``<partition>``, which every listing reads too.

The bucket holds each upload under ``incoming/`` (a quarantine only processing reads; the only
prefix that notifies it), the originals processing accepted under ``originals/`` and the
variants derived from them under ``variants/``, both keyed by the image's revision.
"""

from __future__ import annotations

import hashlib
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
    # Whether its partitions span every user, and so are split into shards (``ListingLayout``).
    sharded: bool = False
    # Whether it is read (and so written) only with authentication off: every user's images.
    all_users: bool = False

    def partition_value(self, *, user_id: str | None = None, tag: str | None = None) -> str:
        """The partition of these filters; of a sharded index, the unsharded one (shards add a suffix)."""
        return _PARTITION_FORMATS[self.name, tag is not None].format(user_id=user_id, tag=tag)


# Every available image item is in BY_USER (and ALL_IMAGES when authentication is off); every
# available tag item is in BY_USER_TAG (and BY_TAG). Each key attribute name is unique to its
# index so that writing or removing it adds or removes the item from exactly that index.
ALL_IMAGES = ListIndex(name="all-images", partition_key="all_pk", sharded=True, all_users=True)
BY_USER = ListIndex(name="by-user", partition_key="user_pk")
BY_TAG = ListIndex(name="by-tag", partition_key="tag_pk", sharded=True, all_users=True)
BY_USER_TAG = ListIndex(name="by-user-tag", partition_key="user_tag_pk")
# Available *public* images: the image items under one partition, each tag's items under
# another (each sharded). One index rather than two because CloudFormation adds at most one GSI
# to an existing table per update.
PUBLIC = ListIndex(name="public", partition_key="public_pk", sharded=True)

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


# How many shards each sharded partition has unless the stage says otherwise: at 10,000 uploads a
# second, even if every upload were public, one shard gets 625 writes a second, under the
# 1,000 write units a second one DynamoDB partition takes.
DEFAULT_LISTING_SHARDS = 16
# A listing page queries every shard at once (plus the unsharded partition): this bounds the
# threads, connections and reads a page costs.
MAX_LISTING_SHARDS = 32


def shard_of(image_id: str, shards: int) -> int:
    """The shard of an image among ``shards``: a stable hash of its id (the same in every process)."""
    digest = hashlib.blake2b(image_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest) % shards


def shard_partition(partition: str, shard: int) -> str:
    """The partition value of one shard: ``<partition>#<shard>``. No tag or user id contains "#"."""
    return f"{partition}#{shard}"


@dataclass(frozen=True)
class ListingLayout:
    """Where the items of the sharded indexes are written, and where a listing looks for them.

    ``shards``: how many shards new items are spread over. ``read_shards``: how many a listing
    reads, at least every count ever written with (an item's shard is its hash modulo the count
    it was written with, so shards ``0 .. read_shards - 1`` hold every item written with a count
    up to ``read_shards``): raising ``shards`` means raising ``read_shards`` with it, and lowering
    it means keeping ``read_shards`` where it was. ``all_users_indexes``: whether ``ALL_IMAGES``
    and ``BY_TAG`` are written (authentication off: the only mode that reads them).
    """

    shards: int = DEFAULT_LISTING_SHARDS
    read_shards: int = DEFAULT_LISTING_SHARDS
    all_users_indexes: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= self.read_shards <= MAX_LISTING_SHARDS:
            raise ValueError(
                f"listing shards: need 1 <= shards ({self.shards}) <= read shards ({self.read_shards})"
                f" <= {MAX_LISTING_SHARDS}"
            )

    def written_partition(
        self, index: ListIndex, *, image_id: str, user_id: str | None = None, tag: str | None = None
    ) -> str | None:
        """The partition an available item of ``image_id`` goes to in ``index``; None: not written."""
        if index.all_users and not self.all_users_indexes:
            return None
        partition = index.partition_value(user_id=user_id, tag=tag)
        return shard_partition(partition, shard_of(image_id, self.shards)) if index.sharded else partition

    def read_partitions(self, index: ListIndex, partition: str) -> tuple[str, ...]:
        """Every partition that may hold items of ``partition`` (as ``partition_value`` names it).

        Of a sharded index: the unsharded partition (items written before sharding) and every shard.
        """
        if not index.sharded:
            return (partition,)
        return (partition, *(shard_partition(partition, shard) for shard in range(self.read_shards)))


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


def just_below(listed_at_value: str) -> str:
    """The greatest bound that no listed_at lies strictly between and ``listed_at_value``.

    Every listed_at has the same length, so one below ``listed_at_value`` is below it at some
    character: at or below this value, which is ``listed_at_value`` with its last character one
    lower, followed by "~" (above every character a listed_at holds). For "within a range and
    strictly below" in one key condition, which allows a single comparison on the sort key.
    """
    if not listed_at_value:
        raise ValueError("an empty listed_at has nothing below it")
    return f"{listed_at_value[:-1]}{chr(ord(listed_at_value[-1]) - 1)}~"


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


# Object keys in the image bucket. Clients upload here (the presigned POST pins the key) and
# only processing reads it: the quarantine. The one prefix that notifies processing, and the
# one the lifecycle backstop expires: bytes no processing finished with.
INCOMING_PREFIX = "incoming/"
# Originals processing accepted, copied here by processing only: what downloads serve.
ORIGINALS_PREFIX = "originals/"
# Derived images. Neither this nor ORIGINALS_PREFIX notifies anybody.
VARIANTS_PREFIX = "variants/"


class Variant(StrEnum):
    """What a download may ask for: the uploaded bytes, or an image derived from them."""

    ORIGINAL = "original"
    PREVIEW = "preview"
    THUMBNAIL = "thumbnail"


DERIVED_VARIANTS: tuple[Variant, ...] = (Variant.PREVIEW, Variant.THUMBNAIL)
VARIANT_CONTENT_TYPE = "image/webp"


def incoming_object_key(image_id: str) -> str:
    """Where the image's upload lands, unverified, until processing has decided about it."""
    return f"{INCOMING_PREFIX}{image_id}"


def originals_prefix(image_id: str) -> str:
    return f"{ORIGINALS_PREFIX}{image_id}/"


def original_object_key(image_id: str, revision: str) -> str:
    """Where the accepted original of the upload ``revision`` (the sha256 of its bytes) is served from.

    Keyed by revision like the variants: a re-upload is copied next to the original it replaces,
    and the record's revision (written in the same transaction as its facts) says which one is
    served, so a download always gets the bytes the record describes.
    """
    return f"{originals_prefix(image_id)}{revision}"


def variants_prefix(image_id: str) -> str:
    return f"{VARIANTS_PREFIX}{image_id}/"


def variant_object_key(image_id: str, revision: str, variant: Variant) -> str:
    """Where ``variant`` of the upload ``revision`` (the sha256 of its bytes) is stored.

    The revision in the key means two uploads to the same image never overwrite each other's
    variants, while the same bytes processed twice write the very same objects.
    """
    if variant is Variant.ORIGINAL:
        raise ValueError("the original is stored under original_object_key")
    return f"{variants_prefix(image_id)}{revision}/{variant.value}.webp"


def revision_object_keys(image_id: str, revision: str) -> tuple[str, ...]:
    """Every object processing writes for the accepted upload ``revision``: its original and variants."""
    return (
        original_object_key(image_id, revision),
        *(variant_object_key(image_id, revision, variant) for variant in DERIVED_VARIANTS),
    )
