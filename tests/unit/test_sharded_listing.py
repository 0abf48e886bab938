"""Listings spanning users are sharded (``schema.ListingLayout``): paged across shards, bound to
their query, and kept right by every writer (processing, edits, visibility changes, deletes).

Images are written straight through the repository (as processing writes them), so that a test
chooses their ids, and with them their shards, and their times.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from image_api.listing import MAX_CURSOR_LENGTH, ListImagesQuery, read_page
from image_core import schema
from image_core.image import Image, ImageFacts
from image_core.repository import ImageRepository, ListingPage, _merge
from image_core.schema import ImageStatus, ListingLayout, Visibility
from image_core.settings import get_settings
from tests.unit.conftest import LISTING_SHARDS, TABLE_NAME, Aws
from tests.unit.harness import ApiClient
from tests.unit.test_list_images_api import open_cursor, seal_cursor

PUBLIC_PARTITION = schema.PUBLIC.partition_value()
FACTS = ImageFacts(
    size=70,
    width=2,
    height=2,
    format="PNG",
    sha256="0" * 64,
    frames=1,
    exif_orientation=1,
    perceptual_hash="0" * 16,
)
# No pending record here expires during a test.
FAR_FUTURE = 4_000_000_000


def ids_in_shard(shard: int, shards: int = LISTING_SHARDS) -> Iterator[str]:
    """Image ids (well-formed, deterministic) whose shard among ``shards`` is ``shard``."""
    for number in itertools.count():
        image_id = f"{number:032x}"
        if schema.shard_of(image_id, shards) == shard:
            yield image_id


def at(second: int) -> str:
    """A created_at as the service writes it, ``second`` seconds into 2026-03-01."""
    return f"2026-03-01T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000000Z"


Put = Callable[..., Image]


@pytest.fixture
def repository(aws: Aws) -> ImageRepository:
    return ImageRepository(aws.dynamodb, TABLE_NAME, get_settings().listing_layout)


@pytest.fixture
def put(repository: ImageRepository) -> Put:
    """Make an image available, as processing does, with the id, owner, time and tags given."""

    def make(
        image_id: str,
        created_at: str,
        *,
        user_id: str = "alice",
        tags: tuple[str, ...] = (),
        visibility: Visibility = Visibility.PUBLIC,
        writer: ImageRepository | None = None,
    ) -> Image:
        pending = Image.model_validate(
            {
                "image_id": image_id,
                "user_id": user_id,
                "tags": list(tags),
                "content_type": "image/png",
                "status": ImageStatus.PENDING,
                "created_at": created_at,
                "visibility": visibility,
                "expires_at": FAR_FUTURE,
            }
        )
        available = pending.made_available(revision="a" * 64, facts=FACTS, duplicate_of=None)
        (writer or repository).create_pending(pending)
        (writer or repository).mark_available(available, as_read=pending, now=0)
        return available

    return make


def every_page(api: ApiClient, **query: str) -> list[list[str]]:
    """Follow the cursors to the end (bounded); the image ids of each page."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(1000):
        result = api.list(**query, **({"cursor": cursor} if cursor else {}))
        assert result.status_code == 200, result.body
        answer = result.json()
        pages.append([item["image_id"] for item in answer["items"]])
        cursor = answer["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursors never ended")


def newest_first(images: list[Image]) -> list[str]:
    return [image.image_id for image in sorted(images, key=lambda image: image.listed_at, reverse=True)]


@pytest.fixture
def uneven_public_gallery(put: Put) -> list[Image]:
    """23 public images of three users over every shard, unevenly: shard 0 holds only the oldest
    image (it runs out at once), shard 1 the newest eight, and seven share one instant."""
    shard_ids = [ids_in_shard(shard) for shard in range(LISTING_SHARDS)]
    images = [put(next(shard_ids[0]), at(0), user_id="carol")]
    images += [put(next(shard_ids[1]), at(1000 + second), user_id="bob") for second in range(8)]
    for shard in range(2, LISTING_SHARDS):
        images += [put(next(shard_ids[shard]), at(500), user_id="alice") for _ in range(3)]
    images += [put(next(shard_ids[2]), at(100 + second), user_id="alice") for second in range(2)]
    # Private images are never among the public ones.
    put(next(shard_ids[1]), at(2000), visibility=Visibility.PRIVATE)
    return images


@pytest.mark.parametrize("limit", [1, 2, 7, 23, 100])
def test_public_pages_hold_every_image_once_newest_first(
    api: ApiClient, uneven_public_gallery: list[Image], limit: int
) -> None:
    # When bob pages through everyone's public images
    pages = every_page(api.as_user("bob"), visibility="public", limit=str(limit))

    # Then every public image comes exactly once, newest first, equal times by image id, and
    # every page but the last is full
    listed = [image_id for page in pages for image_id in page]
    assert listed == newest_first(uneven_public_gallery)
    assert all(len(page) == limit for page in pages[:-1])
    # (the last may be empty: a shard that stopped at exactly a page cannot tell there is no more)
    assert len(pages[-1]) <= limit


def test_images_of_one_instant_page_by_image_id(api: ApiClient, put: Put) -> None:
    # Given twelve public images created at the very same instant, over every shard
    images = [put(f"{number:032x}", at(42)) for number in range(12)]

    # When listed two at a time
    pages = every_page(api, visibility="public", limit="2")

    # Then each comes once, ordered by image id (descending, like listed_at)
    assert [image_id for page in pages for image_id in page] == sorted(
        (image.image_id for image in images), reverse=True
    )


def test_a_public_tag_listing_pages_across_shards_within_a_date_range(api: ApiClient, put: Put) -> None:
    # Given public images tagged cats on two days, and others without the tag
    cats = [
        put(f"{number:032x}", f"2026-03-0{1 + number % 2}T10:00:{number:02d}.000000Z", tags=("cats",))
        for number in range(20)
    ]
    for number in range(20, 26):
        put(f"{number:032x}", "2026-03-02T11:00:00.000000Z", tags=("dogs",))

    # When the cats of 2 March are paged three at a time
    pages = every_page(
        api, visibility="public", tag="cats", limit="3", **{"from": "2026-03-02", "to": "2026-03-02"}
    )

    # Then exactly those come, once each, newest first
    expected = [image for image in cats if image.created_at.startswith("2026-03-02")]
    assert [image_id for page in pages for image_id in page] == newest_first(expected)


def test_a_page_reads_at_most_a_page_from_each_shard(api: ApiClient, aws: Aws, put: Put) -> None:
    # Given more public images in one shard than a page holds
    for image_id in itertools.islice(ids_in_shard(3), 6):
        put(image_id, at(7))
    aws.dynamodb_calls.clear()

    # When a page of two is listed, then its next
    first = api.list(visibility="public", limit="2").json()
    api.list(visibility="public", limit="2", cursor=first["next_cursor"])

    # Then every Query asked for at most two items: a page costs at most (shards + 1) pages of reads
    queries = aws.calls_of("Query")
    assert len(queries) == 2 * (LISTING_SHARDS + 1)
    assert {params["Limit"] for params in queries} == {2}


# --- cursors ---------------------------------------------------------------------------------------


def public_cursor(api: ApiClient, **query: str) -> str:
    cursor: str | None = api.list(visibility="public", limit="1", **query).json()["next_cursor"]
    assert cursor is not None
    return cursor


@pytest.fixture
def tagged_public_gallery(put: Put) -> None:
    for number in range(6):
        put(f"{number:032x}", at(number), tags=("cats",))


@pytest.mark.parametrize(
    ("issued_for", "used_for"),
    [
        pytest.param({}, {"tag": "cats"}, id="public cursor on public by tag"),
        pytest.param({"tag": "cats"}, {}, id="public by tag cursor on public"),
        pytest.param({"tag": "cats"}, {"tag": "dogs"}, id="another tag"),
        pytest.param({}, {"from": "2026-03-01"}, id="public cursor on public from a date"),
    ],
)
def test_a_public_cursor_is_bound_to_its_query(
    api: ApiClient,
    aws: Aws,
    tagged_public_gallery: None,
    issued_for: dict[str, str],
    used_for: dict[str, str],
) -> None:
    cursor = public_cursor(api, **issued_for)
    aws.dynamodb_calls.clear()

    result = api.list(visibility="public", cursor=cursor, **used_for)

    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert "'cursor'" in result.error["message"]
    assert aws.dynamodb_calls == []


def test_a_public_cursor_is_refused_for_the_callers_own_images_and_back(
    api: ApiClient, put: Put, tagged_public_gallery: None
) -> None:
    own_cursor: str | None = api.list(limit="1").json()["next_cursor"]
    assert own_cursor is not None

    assert api.list(cursor=public_cursor(api)).status_code == 400
    assert api.list(visibility="public", cursor=own_cursor).status_code == 400


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda payload: {**payload, "below": "2026-03-01T00:00:00.000000Z#not-an-id"}, id="bad id"
        ),
        pytest.param(lambda payload: {**payload, "below": "PUBLIC#3"}, id="not a listed_at"),
        pytest.param(lambda payload: {**payload, "below": "x" * 600}, id="too long"),
        pytest.param(lambda payload: {**payload, "shard": 3}, id="extra field"),
        pytest.param(
            lambda payload: {key: value for key, value in payload.items() if key != "below"}, id="no position"
        ),
        pytest.param(lambda payload: {**payload, "version": 3}, id="unknown version"),
    ],
)
def test_a_forged_public_cursor_is_refused_before_any_read(
    api: ApiClient, aws: Aws, tagged_public_gallery: None, forge: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    cursor = seal_cursor(forge(open_cursor(public_cursor(api))))
    aws.dynamodb_calls.clear()

    result = api.list(visibility="public", cursor=cursor)

    assert result.status_code == 400
    assert "'cursor'" in result.error["message"]
    assert aws.dynamodb_calls == []


def test_a_public_cursor_below_its_date_range_is_refused(api: ApiClient, tagged_public_gallery: None) -> None:
    query = {"from": "2026-03-01", "to": "2026-03-01"}
    payload = open_cursor(public_cursor(api, **query))

    forged = {**payload, "below": schema.listed_at("2026-02-28T23:59:59.999999Z", "f" * 32)}

    assert api.list(visibility="public", cursor=seal_cursor(forged), **query).status_code == 400


def test_a_cursor_issued_before_sharding_resumes_below_its_image(api: ApiClient, put: Put) -> None:
    # Given public images, and a cursor as the unsharded listing issued it: the last key of a page
    images = [put(f"{number:032x}", at(number)) for number in range(5)]
    third = sorted(images, key=lambda image: image.listed_at, reverse=True)[2]
    fingerprint = open_cursor(public_cursor(api))["query"]
    legacy = seal_cursor(
        {
            "version": 1,
            "query": fingerprint,
            "key": {
                schema.PARTITION_KEY: schema.image_partition(third.image_id),
                schema.SORT_KEY: schema.IMAGE_SORT_KEY,
                schema.PUBLIC.partition_key: PUBLIC_PARTITION,
                schema.LISTED_AT: third.listed_at,
            },
        }
    )

    # When the listing resumes from it
    result = api.list(visibility="public", cursor=legacy)

    # Then it goes on below that image
    assert result.status_code == 200
    assert [item["image_id"] for item in result.json()["items"]] == newest_first(images)[3:]


def test_a_cursor_stays_short_at_the_most_shards(aws: Aws) -> None:
    # Given the most shards a stage may have, and images with the longest tag and owner
    layout = ListingLayout(shards=schema.MAX_LISTING_SHARDS, read_shards=schema.MAX_LISTING_SHARDS)
    repository = ImageRepository(aws.dynamodb, TABLE_NAME, layout)
    for number in range(3):
        pending = Image.model_validate(
            {
                "image_id": f"{number:032x}",
                "user_id": "u" * 128,
                "tags": ["t" * 64],
                "content_type": "image/png",
                "status": ImageStatus.PENDING,
                "created_at": at(number),
                "visibility": Visibility.PUBLIC,
                "expires_at": FAR_FUTURE,
            }
        )
        repository.create_pending(pending)
        repository.mark_available(
            pending.made_available(revision="a" * 64, facts=FACTS, duplicate_of=None), as_read=pending, now=0
        )
    query = ListImagesQuery(
        visibility=Visibility.PUBLIC, tag="t" * 64, created_from=date(2026, 3, 1), limit=1
    )

    # When a page of one is read, across every shard
    page = read_page(repository, query, owner=None)

    # Then its cursor (one position, whatever the number of shards) is far within the bound the
    # API's contract gives it
    assert page.next_cursor is not None
    assert len(page.next_cursor) < MAX_CURSOR_LENGTH // 8
    # And it resumes where it should
    rest = read_page(repository, dataclasses.replace(query, limit=5, cursor=page.next_cursor), owner=None)
    assert [image.image_id for image in rest.images] == [f"{1:032x}", f"{0:032x}"]


# --- writers keep every shard right -------------------------------------------------------------------


def public_partitions_of(aws: Aws, image_id: str) -> dict[str, str]:
    """sort key -> public partition of the image's items that are in the public index."""
    return {
        item[schema.SORT_KEY]: item[schema.PUBLIC.partition_key]
        for item in aws.table_items()
        if item[schema.PARTITION_KEY] == schema.image_partition(image_id)
        and schema.PUBLIC.partition_key in item
    }


def public_ids(api: ApiClient, **query: str) -> list[str]:
    return [image_id for page in every_page(api, visibility="public", **query) for image_id in page]


def test_edits_move_an_image_between_the_public_shards_and_out(aws: Aws, api: ApiClient, put: Put) -> None:
    # Given alice's public image tagged cats and sofa
    image = put("ab" * 16, at(1), tags=("cats", "sofa"))
    shard = schema.shard_of(image.image_id, LISTING_SHARDS)

    def in_shard(partition: str) -> str:
        return schema.shard_partition(partition, shard)

    assert public_partitions_of(aws, image.image_id) == {
        schema.IMAGE_SORT_KEY: in_shard(PUBLIC_PARTITION),
        schema.tag_sort_key("cats"): in_shard(schema.PUBLIC.partition_value(tag="cats")),
        schema.tag_sort_key("sofa"): in_shard(schema.PUBLIC.partition_value(tag="sofa")),
    }

    # When she replaces sofa by garden: the tag items follow, in the same shard
    assert api.edit(image.image_id, {"tags": ["cats", "garden"]}).status_code == 200
    assert public_partitions_of(aws, image.image_id) == {
        schema.IMAGE_SORT_KEY: in_shard(PUBLIC_PARTITION),
        schema.tag_sort_key("cats"): in_shard(schema.PUBLIC.partition_value(tag="cats")),
        schema.tag_sort_key("garden"): in_shard(schema.PUBLIC.partition_value(tag="garden")),
    }
    assert public_ids(api.as_user("bob"), tag="garden") == [image.image_id]
    assert public_ids(api.as_user("bob"), tag="sofa") == []

    # When she makes it private: out of every public partition
    assert api.edit(image.image_id, {"visibility": "private"}).status_code == 200
    assert public_partitions_of(aws, image.image_id) == {}
    assert public_ids(api.as_user("bob")) == []

    # When public again: back in its shard
    assert api.edit(image.image_id, {"visibility": "public"}).status_code == 200
    assert public_partitions_of(aws, image.image_id)[schema.IMAGE_SORT_KEY] == in_shard(PUBLIC_PARTITION)
    assert public_ids(api.as_user("bob"), tag="cats") == [image.image_id]

    # When she deletes it: in no index at all
    assert api.delete(image.image_id).status_code == 204
    assert public_partitions_of(aws, image.image_id) == {}
    assert public_ids(api.as_user("bob")) == []
    assert public_ids(api.as_user("bob"), tag="cats") == []


@pytest.fixture
def unsharded_repository(aws: Aws) -> ImageRepository:
    """A repository writing as the service did before sharding: one public partition, and the
    all-users indexes written whatever the auth mode."""
    return ImageRepository(aws.dynamodb, TABLE_NAME, _BeforeSharding())


class _BeforeSharding(ListingLayout):
    def written_partition(
        self,
        index: schema.ListIndex,
        *,
        image_id: str,  # noqa: ARG002 - every image in the one partition, whatever its id
        user_id: str | None = None,
        tag: str | None = None,
    ) -> str | None:
        return index.partition_value(user_id=user_id, tag=tag)


def test_records_written_before_sharding_list_edit_and_delete(
    aws: Aws, api: ApiClient, put: Put, unsharded_repository: ImageRepository
) -> None:
    # Given public images written before sharding (in the unsharded partitions, in the all-users
    # indexes too) and after it
    old = [
        put(f"{number:032x}", at(number * 2), tags=("cats",), writer=unsharded_repository)
        for number in range(4)
    ]
    new = [put(f"{number:032x}", at(number * 2 + 1), tags=("cats",)) for number in range(4, 8)]
    assert public_partitions_of(aws, old[0].image_id)[schema.IMAGE_SORT_KEY] == PUBLIC_PARTITION

    # Then both are listed together, newest first, by tag too
    assert public_ids(api, limit="3") == newest_first(old + new)
    assert public_ids(api, tag="cats", limit="3") == newest_first(old + new)

    # When an old one is edited: it moves to its shard, and leaves the all-users indexes this
    # stage does not read
    edited = old[0]
    assert api.edit(edited.image_id, {"description": "edited"}).status_code == 200
    shard = schema.shard_of(edited.image_id, LISTING_SHARDS)
    image_item = aws.item(edited.image_id)
    tag_item = aws.item(edited.image_id, schema.tag_sort_key("cats"))
    assert image_item is not None
    assert tag_item is not None
    assert image_item[schema.PUBLIC.partition_key] == schema.shard_partition(PUBLIC_PARTITION, shard)
    assert tag_item[schema.PUBLIC.partition_key] == schema.shard_partition("PUBLIC#TAG#cats", shard)
    assert schema.ALL_IMAGES.partition_key not in image_item
    assert schema.BY_TAG.partition_key not in tag_item
    assert public_ids(api, limit="3") == newest_first(old + new)

    # When another old one is made private, and a third deleted: gone from the public listings
    assert api.edit(old[1].image_id, {"visibility": "private"}).status_code == 200
    assert api.delete(old[2].image_id).status_code == 204
    remaining = [old[0], old[3], *new]
    assert public_ids(api, limit="2") == newest_first(remaining)
    assert public_ids(api, tag="cats", limit="2") == newest_first(remaining)
    assert public_partitions_of(aws, old[1].image_id) == {}
    assert aws.item(old[2].image_id) is None


def test_changing_the_shard_count_loses_no_image(aws: Aws, api: ApiClient, put: Put) -> None:
    # Given images written with two shards, then with the stage's four (reading four), then
    # with two again (still reading four)
    def writer(shards: int) -> ImageRepository:
        return ImageRepository(
            aws.dynamodb, TABLE_NAME, ListingLayout(shards=shards, read_shards=LISTING_SHARDS)
        )

    images = [put(f"{number:032x}", at(number), writer=writer(2)) for number in range(6)]
    images += [put(f"{number:032x}", at(number), writer=writer(LISTING_SHARDS)) for number in range(6, 12)]
    images += [put(f"{number:032x}", at(number), writer=writer(2)) for number in range(12, 18)]

    # Then every one is listed, once, newest first
    assert public_ids(api, limit="4") == newest_first(images)


# --- the merge -----------------------------------------------------------------------------------


def image_at(second: int, number: int) -> Image:
    return Image.model_validate(
        {
            "image_id": f"{number:032x}",
            "user_id": "alice",
            "tags": [],
            "content_type": "image/png",
            "status": ImageStatus.AVAILABLE,
            "created_at": at(second),
        }
    )


def test_a_shard_cut_short_bounds_the_page_so_nothing_below_it_is_skipped() -> None:
    # Given one shard whose answer DynamoDB cut short after two items (a LastEvaluatedKey), and
    # one that answered in full
    cut_short = ListingPage(images=[image_at(10, 1), image_at(8, 2)], last_evaluated_key={"k": "v"})
    complete = ListingPage(images=[image_at(9, 3), image_at(7, 4), image_at(6, 5)], last_evaluated_key=None)

    # When merged into a page of four
    page = _merge([cut_short, complete], limit=4)

    # Then only what lies at or above the cut shard's last item is merged, and the page goes on
    # below that item (7 and 6 come next time, with whatever the cut shard still holds)
    assert [image.created_at for image in page.images] == [at(10), at(9), at(8)]
    assert page.last_listed_at == image_at(8, 2).listed_at


def test_the_merge_ends_when_every_shard_is_done() -> None:
    pages = [
        ListingPage(images=[image_at(3, 1)], last_evaluated_key=None),
        ListingPage(images=[], last_evaluated_key=None),
        ListingPage(images=[image_at(5, 2), image_at(1, 3)], last_evaluated_key=None),
    ]

    page = _merge(pages, limit=3)

    assert [image.image_id for image in page.images] == [f"{2:032x}", f"{1:032x}", f"{3:032x}"]
    assert page.last_listed_at is None


def test_just_below_lies_between_a_listed_at_and_every_smaller_one() -> None:
    image_id = "0123456789abcdef0123456789abcdef"
    value = schema.listed_at(at(5), image_id)
    bound = schema.just_below(value)
    neighbours = [
        schema.listed_at(at(5), "0123456789abcdef0123456789abcdee"),
        schema.listed_at(at(5), "0123456789abcdef0123456789abcde0"),
        schema.listed_at(at(4), "f" * 32),
    ]

    assert bound < value
    assert all(neighbour <= bound for neighbour in neighbours)
    # And for an id ending in 0 (the bound then ends in "/~", still above every smaller id)
    zero = schema.listed_at(at(5), "0" * 32)
    assert schema.listed_at(at(4), "f" * 32) <= schema.just_below(zero) < zero


@pytest.mark.parametrize(("shards", "read_shards"), [(0, 1), (2, 1), (4, schema.MAX_LISTING_SHARDS + 1)])
def test_a_layout_reads_at_least_the_shards_it_writes(shards: int, read_shards: int) -> None:
    with pytest.raises(ValueError, match="listing shards"):
        ListingLayout(shards=shards, read_shards=read_shards)


def test_the_shard_of_an_image_is_stable_and_spread() -> None:
    ids = [f"{number:032x}" for number in range(1600)]

    counts = [0] * 16
    for image_id in ids:
        counts[schema.shard_of(image_id, 16)] += 1

    # The same in every process and release (a fixed hash, not Python's salted hash(): a stored
    # item's shard must be found again) ...
    assert schema.shard_of("3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7", 16) == 7
    assert schema.shard_of("0" * 32, 16) == 1
    # ... and even: no shard gets twice its share of sequential ids
    assert max(counts) < 2 * 1600 / 16
