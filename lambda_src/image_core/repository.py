"""The metadata table: every DynamoDB call of the service, and nothing else.

Layout and lifecycle are in ``image_core.schema`` and ``docs/design-brief.md``. This is the
edge where ``ClientError`` codes become domain errors; callers above never see botocore.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from image_core import schema
from image_core.errors import (
    ChangedSinceRead,
    Conflict,
    ImageServiceError,
    error_code,
    throttling_as_rate_limited,
)
from image_core.image import FACT_FIELDS, Image
from image_core.schema import ImageStatus, ListIndex, ListingLayout, Visibility

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef, ScanInputTypeDef, TransactWriteItemTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# The record's write counter (``Image.version``): every change after the upload request is
# conditional on the value it read and raises it by one. Records written before it existed
# have none, which reads as 0.
VERSION = "version"

# Expression placeholders for the attribute names the expressions touch; several ("status",
# "size", "format") are DynamoDB reserved words, and the rest come from the schema rather than
# literals. The processing outcomes (``_update``) number their placeholders instead.
_ATTRIBUTE_NAMES = {
    "#pk": schema.PARTITION_KEY,
    "#status": "status",
    "#all_pk": schema.ALL_IMAGES.partition_key,
    "#user_pk": schema.BY_USER.partition_key,
    "#user_dhash_pk": schema.DUPLICATES.partition_key,
    "#public_pk": schema.PUBLIC.partition_key,
    "#listed_at": schema.LISTED_AT,
    "#version": VERSION,
}

# The index keys of an image item: present exactly while it is available (sparse indexes).
_IMAGE_INDEX_KEYS = (
    schema.ALL_IMAGES.partition_key,
    schema.BY_USER.partition_key,
    schema.DUPLICATES.partition_key,
    schema.PUBLIC.partition_key,
    schema.LISTED_AT,
)


@dataclass(frozen=True)
class ListingPage:
    images: list[Image]
    # DynamoDB's LastEvaluatedKey (all its attributes are strings); None when the query is done.
    last_evaluated_key: dict[str, str] | None


@dataclass(frozen=True)
class MergedPage:
    images: list[Image]
    # The ``listed_at`` of the last image of the page when more may follow: the next page is the
    # images listed strictly below it, in every partition. None when the listing is done.
    last_listed_at: str | None


class ImageRepository:
    def __init__(self, client: DynamoDBClient, table_name: str, layout: ListingLayout | None = None) -> None:
        """``layout``: the stage's sharding and all-users indexes (``schema.ListingLayout``; its
        defaults when None). Every function of a stage must be given the same."""
        self._client = client
        self._table_name = table_name
        self._layout = layout if layout is not None else ListingLayout()

    @property
    def layout(self) -> ListingLayout:
        return self._layout

    def create_pending(self, image: Image) -> None:
        """Store a new image record; it is invisible to listings until it becomes available.

        It carries its ``expires_at`` as the table's TTL attribute, so a record whose bytes
        never come is deleted by DynamoDB (and read as gone from that moment on).
        """
        if image.expires_at is None:
            raise ValueError("a pending image needs an expiry")
        try:
            with throttling_as_rate_limited():
                self._client.put_item(
                    TableName=self._table_name,
                    Item=_item(
                        _image_key(image.image_id),
                        _attributes(image),
                        {schema.TTL_ATTRIBUTE: image.expires_at},
                        {"request_id": image.request_id} if image.request_id is not None else {},
                    ),
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
                )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise Conflict(f"image {image.image_id} already exists") from error
            raise

    def get(self, image_id: str) -> Image | None:
        # Strongly consistent: a just-created or just-deleted record must read as such.
        with throttling_as_rate_limited():
            response = self._client.get_item(
                TableName=self._table_name, Key=_item(_image_key(image_id)), ConsistentRead=True
            )
        item = response.get("Item")
        return _image_from(item) if item is not None else None

    def mark_available(self, image: Image, *, as_read: Image, now: int) -> None:
        """Record ``image`` (status available, with its facts) and list it, in one transaction.

        Conditional on the record being exactly as processing read it (``as_read``): still
        there, not deleting, not expired, describing the same upload (revision) and not
        written since (version: an owner's edit in between counts). So two runs for the same
        or for different uploads, or a run and an edit, can never both write what they
        decided from the same read; the loser gets ``ChangedSinceRead`` and reads again.
        ``image`` must be built from ``as_read``, so that an edit read there carries through.
        The pending TTL goes: an available image is kept until deleted.
        """
        if image.perceptual_hash is None:
            raise ValueError("an available image needs its perceptual hash")
        facts = {name: getattr(image, name) for name in FACT_FIELDS}
        index_keys = {
            **self._global_image_keys(image),
            schema.BY_USER.partition_key: schema.BY_USER.partition_value(user_id=image.user_id),
            schema.DUPLICATES.partition_key: schema.DUPLICATES.partition_value(
                user_id=image.user_id, perceptual_hash=image.perceptual_hash
            ),
            schema.LISTED_AT: image.listed_at,
        }
        update = _update(
            {
                "status": ImageStatus.AVAILABLE.value,
                "revision": image.revision,
                **facts,
                **index_keys,
                "reason": None,
                schema.TTL_ATTRIBUTE: None,
                VERSION: as_read.version + 1,
            },
            condition=_unchanged_since_read(as_read, now),
        )
        tag_puts: list[TransactWriteItemTypeDef] = [
            {"Put": {"TableName": self._table_name, "Item": self._tag_item(image, tag)}} for tag in image.tags
        ]
        self._transact(
            [self._update_image(image.image_id, update), *tag_puts],
            condition_error=ChangedSinceRead(f"image {image.image_id} changed while it was processed"),
        )

    def mark_unavailable(self, image: Image, *, as_read: Image, now: int) -> None:
        """Record ``image`` as rejected or failed: its reason and expiry set, its facts and listings gone.

        Same condition as ``mark_available``. A record that was available (a later upload of
        it was refused) leaves every index and loses its tag items in the same transaction.
        """
        if image.status not in (ImageStatus.REJECTED, ImageStatus.FAILED) or image.expires_at is None:
            raise ValueError("an unavailable image is rejected or failed and expires")
        update = _update(
            {
                "status": image.status.value,
                "revision": image.revision,
                "reason": image.reason.value if image.reason is not None else None,
                schema.TTL_ATTRIBUTE: image.expires_at,
                **dict.fromkeys(FACT_FIELDS),
                **dict.fromkeys(_IMAGE_INDEX_KEYS),
                VERSION: as_read.version + 1,
            },
            condition=_unchanged_since_read(as_read, now),
        )
        tag_deletes: list[TransactWriteItemTypeDef] = [
            {"Delete": {"TableName": self._table_name, "Key": _item(_tag_key(image.image_id, tag))}}
            for tag in image.tags
        ]
        self._transact(
            [self._update_image(image.image_id, update), *tag_deletes],
            condition_error=ChangedSinceRead(f"image {image.image_id} changed while it was processed"),
        )

    def save_edit(self, edited: Image, *, as_read: Image, now: int) -> None:
        """Write an owner's edit (tags, description, visibility) everywhere it is listed, at once.

        One transaction: the image item, and for an available image its tag items too (the
        items of removed tags deleted, every other one rewritten, since each carries a copy of
        the listing attributes), with the public index keys set or removed with the
        visibility. The keys of every index spanning users are written as this stage's layout
        says, so a record written before sharding (or with another layout) moves to its shard
        and leaves the indexes this stage does not read. A pending image has no tag items yet:
        processing writes them from the record it reads, edit included. Conditional on the
        record being as read (same status, same version, not expired); otherwise
        ``ChangedSinceRead``, and the caller reads again.
        """
        listed = as_read.status is ImageStatus.AVAILABLE
        attributes: dict[str, Any] = {
            "tags": edited.tags,
            "description": edited.description,
            "visibility": edited.visibility.value,
            VERSION: as_read.version + 1,
        }
        if listed:
            attributes.update(self._global_image_keys(edited))
        update = _update(attributes, condition=_same_version_as(as_read, now))
        items = [self._update_image(edited.image_id, update)]
        if listed:
            items += [
                {"Delete": {"TableName": self._table_name, "Key": _item(_tag_key(edited.image_id, tag))}}
                for tag in as_read.tags
                if tag not in edited.tags
            ]
            items += [
                {"Put": {"TableName": self._table_name, "Item": self._tag_item(edited, tag)}}
                for tag in edited.tags
            ]
        self._transact(
            items,
            condition_error=ChangedSinceRead(f"image {edited.image_id} changed while it was edited"),
        )

    def find_duplicate(self, *, user_id: str, perceptual_hash: str, excluding: str) -> str | None:
        """The id of the oldest other available image of ``user_id`` with this hash, if any.

        One Query on one partition of the sparse duplicates index; at most one of the two
        items read can be the image itself.
        """
        with throttling_as_rate_limited():
            response = self._client.query(
                TableName=self._table_name,
                IndexName=schema.DUPLICATES.name,
                KeyConditionExpression="#partition = :partition",
                ExpressionAttributeNames={"#partition": schema.DUPLICATES.partition_key},
                ExpressionAttributeValues=_item(
                    {
                        ":partition": schema.DUPLICATES.partition_value(
                            user_id=user_id, perceptual_hash=perceptual_hash
                        )
                    }
                ),
                ScanIndexForward=True,
                Limit=2,
            )
        for item in response.get("Items", []):
            image_id = str(_deserializer.deserialize(item["image_id"]))
            if image_id != excluding:
                return image_id
        return None

    def _global_image_keys(self, image: Image) -> dict[str, str | None]:
        """The image item's keys in the indexes spanning users, as this layout writes them (None: removed).

        In the public index while public; in the all-users one only where it is read.
        """
        public = image.visibility is Visibility.PUBLIC
        return {
            schema.ALL_IMAGES.partition_key: self._layout.written_partition(
                schema.ALL_IMAGES, image_id=image.image_id
            ),
            schema.PUBLIC.partition_key: (
                self._layout.written_partition(schema.PUBLIC, image_id=image.image_id) if public else None
            ),
        }

    def _tag_item(self, image: Image, tag: str) -> dict[str, Any]:
        """A copy of the listing attributes under the tag's indexes, so a tag query needs no second read.

        Its shard in the sharded indexes is its image's (a stable hash of the image id).
        """
        index_keys: dict[str, str | None] = {
            schema.BY_TAG.partition_key: self._layout.written_partition(
                schema.BY_TAG, image_id=image.image_id, tag=tag
            ),
            schema.BY_USER_TAG.partition_key: schema.BY_USER_TAG.partition_value(
                user_id=image.user_id, tag=tag
            ),
            schema.LISTED_AT: image.listed_at,
            schema.PUBLIC.partition_key: (
                self._layout.written_partition(schema.PUBLIC, image_id=image.image_id, tag=tag)
                if image.visibility is Visibility.PUBLIC
                else None
            ),
        }
        present = {name: value for name, value in index_keys.items() if value is not None}
        # The revision (never shown) names the variants' keys: a listing by tag presigns thumbnails
        # from its tag items without reading the image items.
        revision = {"revision": image.revision} if image.revision is not None else {}
        return _item(_tag_key(image.image_id, tag), _attributes(image), revision, present)

    def _update_image(self, image_id: str, update: _Update) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self._table_name,
                "Key": _item(_image_key(image_id)),
                "UpdateExpression": update.expression,
                "ConditionExpression": update.condition,
                "ExpressionAttributeNames": update.names,
                "ExpressionAttributeValues": _item(update.values),
            }
        }

    def list_page(
        self,
        *,
        index: ListIndex,
        partition_value: str,
        listed_at_range: tuple[str, str] | None,
        limit: int,
        start_key: Mapping[str, str] | None,
    ) -> ListingPage:
        """One page of available images, newest first: one Query on one index partition, maybe
        narrowed to a ``listed_at`` range (planned by the API's ``image_api.listing``).

        No FilterExpression, so the items read are the items returned and a page costs at most
        ``limit`` items.
        """
        key_condition = "#partition = :partition"
        names = {"#partition": index.partition_key}
        values: dict[str, Any] = {":partition": partition_value}
        if listed_at_range is not None:
            key_condition += " AND #listed_at BETWEEN :from AND :to"
            names["#listed_at"] = schema.LISTED_AT
            values[":from"], values[":to"] = listed_at_range
        query: QueryInputTypeDef = {
            "TableName": self._table_name,
            "IndexName": index.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _item(values),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start_key is not None:
            query["ExclusiveStartKey"] = _item(start_key)
        with throttling_as_rate_limited():
            response = self._client.query(**query)
        return _listing_page(response.get("Items", []), response.get("LastEvaluatedKey"))

    def list_merged_page(
        self,
        *,
        index: ListIndex,
        partition_value: str,
        listed_at_range: tuple[str, str] | None,
        limit: int,
        below: str | None,
    ) -> MergedPage:
        """One page of a sharded index's partition (``schema.ListingLayout``), newest first.

        Every partition that may hold its items (each shard, and the unsharded one of items
        written before sharding) is queried at once, each for at most ``limit`` items listed
        strictly below ``below`` (the previous page's last; None: from the newest), and the
        answers merged. ``listed_at`` ends in the image id, so it orders all items totally (equal
        times by image id) and one value is every shard's position: the next page starts below
        the last image shown, in every shard.
        """
        partitions = self._layout.read_partitions(index, partition_value)
        bounds = _key_bounds(listed_at_range, below)

        def query(partition: str) -> ListingPage:
            return self._query_partition(index, partition, bounds, limit)

        if bounds is _NOTHING:
            pages: list[ListingPage] = []
        else:
            # boto3 clients are thread-safe; their connection pool is sized for this (clients.py).
            with ThreadPoolExecutor(max_workers=len(partitions), thread_name_prefix="shard") as pool:
                pages = list(pool.map(query, partitions))
        return _merge(pages, limit)

    def _query_partition(
        self, index: ListIndex, partition: str, bounds: _KeyBounds | None, limit: int
    ) -> ListingPage:
        """Up to ``limit`` items of one partition within ``bounds``, newest first, with more to come
        when its answer had a LastEvaluatedKey."""
        key_condition = "#partition = :partition"
        names = {"#partition": index.partition_key}
        values: dict[str, Any] = {":partition": partition}
        if bounds is not None:
            key_condition += f" AND {bounds.condition}"
            names["#listed_at"] = schema.LISTED_AT
            values.update(bounds.values)
        query: QueryInputTypeDef = {
            "TableName": self._table_name,
            "IndexName": index.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _item(values),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        while True:
            with throttling_as_rate_limited():
                response = self._client.query(**query)
            items = response.get("Items", [])
            last_key = response.get("LastEvaluatedKey")
            # An answer cut short before its first item (DynamoDB's 1 MB per answer) tells
            # nothing about where this partition stands: read on. Never seen with items this small.
            if items or last_key is None:
                return _listing_page(items, last_key)
            query["ExclusiveStartKey"] = last_key

    def hide_for_deletion(self, image: Image) -> None:
        """Mark the image ``deleting`` and take it and its tag items out of every index, atomically.

        The image item stays (without index keys) until the object is gone, so a DELETE that
        fails after this point is finished by retrying it. Conditional on the record being as
        read (its version): the tags read name every tag item there is only if no edit came
        in between. Raises ``ChangedSinceRead`` if it did, or if the record is gone.
        """
        version_condition, version_values = _version_is(image.version)
        hide: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table_name,
                "Key": _item(_image_key(image.image_id)),
                "UpdateExpression": (
                    "SET #status = :deleting, #version = :next_version"
                    " REMOVE #all_pk, #user_pk, #user_dhash_pk, #public_pk, #listed_at"
                ),
                "ConditionExpression": f"attribute_exists(#pk) AND {version_condition}",
                "ExpressionAttributeNames": _names(
                    "#pk",
                    "#status",
                    "#version",
                    "#all_pk",
                    "#user_pk",
                    "#user_dhash_pk",
                    "#public_pk",
                    "#listed_at",
                ),
                "ExpressionAttributeValues": _item(
                    {
                        ":deleting": ImageStatus.DELETING.value,
                        ":next_version": image.version + 1,
                        **version_values,
                    }
                ),
            }
        }
        tag_deletes: list[TransactWriteItemTypeDef] = [
            {"Delete": {"TableName": self._table_name, "Key": _item(_tag_key(image.image_id, tag))}}
            for tag in image.tags
        ]
        self._transact(
            [hide, *tag_deletes],
            condition_error=ChangedSinceRead(f"image {image.image_id} changed while it was deleted"),
        )

    def delete_image_item(self, image_id: str) -> None:
        """The last step of a delete; deleting an item that is already gone is not an error."""
        with throttling_as_rate_limited():
            self._client.delete_item(TableName=self._table_name, Key=_item(_image_key(image_id)))

    def delete_tag_items(self, image: Image) -> None:
        """Delete the image's tag items (the record names every one); missing ones are not an error."""
        for tag in image.tags:
            with throttling_as_rate_limited():
                self._client.delete_item(TableName=self._table_name, Key=_item(_tag_key(image.image_id, tag)))

    def delete_expired_image_item(self, image_id: str, *, now: int) -> bool:
        """Delete the image item if its time is up (what the table's TTL does, eventually);
        whether it was deleted. Anything else (gone already, not expired) is left as it is."""
        try:
            with throttling_as_rate_limited():
                self._client.delete_item(
                    TableName=self._table_name,
                    Key=_item(_image_key(image_id)),
                    ConditionExpression="#expires <= :now",
                    ExpressionAttributeNames={"#expires": schema.TTL_ATTRIBUTE},
                    ExpressionAttributeValues=_item({":now": now}),
                )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def scan_images(self, *, limit: int, start_key: Mapping[str, str] | None) -> ListingPage:
        """One page of every image record, whatever its status: reconciliation's walk over the table.

        A Scan, which no request path uses: it reads up to ``limit`` items of any kind (the
        filter keeps the image items), so a page may hold fewer images than it read.
        """
        scan: ScanInputTypeDef = {
            "TableName": self._table_name,
            "FilterExpression": "#sk = :image",
            "ExpressionAttributeNames": {"#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": _item({":image": schema.IMAGE_SORT_KEY}),
            "Limit": limit,
        }
        if start_key is not None:
            scan["ExclusiveStartKey"] = _item(start_key)
        with throttling_as_rate_limited():
            response = self._client.scan(**scan)
        return _listing_page(response.get("Items", []), response.get("LastEvaluatedKey"))

    def _transact(
        self,
        items: list[TransactWriteItemTypeDef],
        *,
        condition_error: ImageServiceError,
    ) -> None:
        """Run a transaction whose first item is the conditional write of the image item.

        That condition failing raises ``condition_error``; so does losing to a concurrent
        transaction on the same items (both mean: read again, then decide).
        """
        try:
            with throttling_as_rate_limited():
                self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"] or "TransactionConflict" in reasons:
                raise condition_error from error
            raise


@dataclass(frozen=True)
class _Update:
    expression: str
    condition: str
    names: dict[str, str]
    values: dict[str, Any]


@dataclass(frozen=True)
class _Condition:
    expression: str
    names: dict[str, str]
    values: dict[str, Any]


def _unchanged_since_read(as_read: Image, now: int) -> _Condition:
    """The image item still exists, is not being deleted or expired, describes the revision it
    was read with, and has not been written since (its version)."""
    expected_revision = as_read.revision
    revision = (
        "attribute_not_exists(#c_revision)" if expected_revision is None else "#c_revision = :c_revision"
    )
    version, version_values = _version_is(as_read.version, placeholder="c_version")
    values: dict[str, Any] = {":c_deleting": ImageStatus.DELETING.value, ":c_now": now, **version_values}
    if expected_revision is not None:
        values[":c_revision"] = expected_revision
    return _Condition(
        expression=(
            "attribute_exists(#c_pk) AND #c_status <> :c_deleting"
            " AND (attribute_not_exists(#c_expires) OR #c_expires > :c_now)"
            f" AND {revision} AND {version}"
        ),
        names={
            "#c_pk": schema.PARTITION_KEY,
            "#c_status": "status",
            "#c_expires": schema.TTL_ATTRIBUTE,
            "#c_revision": "revision",
            "#c_version": VERSION,
        },
        values=values,
    )


def _same_version_as(as_read: Image, now: int) -> _Condition:
    """The image item still exists, in the status and at the version it was read with, unexpired."""
    version, version_values = _version_is(as_read.version, placeholder="c_version")
    return _Condition(
        expression=(
            "attribute_exists(#c_pk) AND #c_status = :c_status"
            " AND (attribute_not_exists(#c_expires) OR #c_expires > :c_now)"
            f" AND {version}"
        ),
        names={
            "#c_pk": schema.PARTITION_KEY,
            "#c_status": "status",
            "#c_expires": schema.TTL_ATTRIBUTE,
            "#c_version": VERSION,
        },
        values={":c_status": as_read.status.value, ":c_now": now, **version_values},
    )


def _version_is(version: int, *, placeholder: str = "version") -> tuple[str, dict[str, int]]:
    """A condition that the record is at ``version`` (for 0: has none), and its values.

    The name placeholder is ``#<placeholder>``, the value's ``:<placeholder>``.
    """
    if version == 0:
        return f"attribute_not_exists(#{placeholder})", {}
    return f"#{placeholder} = :{placeholder}", {f":{placeholder}": version}


def _update(attributes: Mapping[str, Any], *, condition: _Condition) -> _Update:
    """An update that sets the attributes with a value and removes those given as None."""
    names = dict(condition.names)
    values = dict(condition.values)
    assignments: list[str] = []
    removals: list[str] = []
    for number, (name, value) in enumerate(attributes.items()):
        names[f"#u{number}"] = name
        if value is None:
            removals.append(f"#u{number}")
        else:
            values[f":u{number}"] = value
            assignments.append(f"#u{number} = :u{number}")
    expression = f"SET {', '.join(assignments)}"
    if removals:
        expression += f" REMOVE {', '.join(removals)}"
    return _Update(expression=expression, condition=condition.expression, names=names, values=values)


def _names(*placeholders: str) -> dict[str, str]:
    # DynamoDB rejects a request that defines a placeholder its expressions do not use.
    return {placeholder: _ATTRIBUTE_NAMES[placeholder] for placeholder in placeholders}


def _image_key(image_id: str) -> dict[str, str]:
    return {schema.PARTITION_KEY: schema.image_partition(image_id), schema.SORT_KEY: schema.IMAGE_SORT_KEY}


def _tag_key(image_id: str, tag: str) -> dict[str, str]:
    return {schema.PARTITION_KEY: schema.image_partition(image_id), schema.SORT_KEY: schema.tag_sort_key(tag)}


def _attributes(image: Image) -> dict[str, Any]:
    # Absent rather than NULL: an unknown size or a missing description is simply not stored.
    return image.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class _KeyBounds:
    """A sort key condition on ``listed_at`` (its name placeholder is ``#listed_at``) and its values."""

    condition: str
    values: dict[str, str]


# No item can lie within the bounds: nothing to query.
_NOTHING = _KeyBounds(condition="", values={})


def _key_bounds(listed_at_range: tuple[str, str] | None, below: str | None) -> _KeyBounds | None:
    """The ``listed_at`` condition of a merged page: within the range, strictly below ``below``."""
    if below is None:
        if listed_at_range is None:
            return None
        lower, upper = listed_at_range
        return _KeyBounds("#listed_at BETWEEN :from AND :to", {":from": lower, ":to": upper})
    if listed_at_range is None:
        return _KeyBounds("#listed_at < :below", {":below": below})
    # A key condition has one comparison on the sort key, so "within the range and below" is a
    # BETWEEN whose upper bound is the greatest value below ``below`` (schema.just_below).
    lower, upper = listed_at_range
    upper = min(upper, schema.just_below(below))
    if upper < lower:
        return _NOTHING
    return _KeyBounds("#listed_at BETWEEN :from AND :to", {":from": lower, ":to": upper})


def _merge(pages: list[ListingPage], limit: int) -> MergedPage:
    """The newest ``limit`` images of several partitions' pages, and where the next page starts.

    A page that stopped with more to come (a LastEvaluatedKey) vouches only for the items above
    its last: anything of its partition below that is unread. So only items at or above the
    highest such last item are merged; with ``limit`` items per partition that never shortens
    a page below ``limit`` unless DynamoDB cut an answer short, and never empties one.
    """
    floor = max(
        (page.images[-1].listed_at for page in pages if page.last_evaluated_key is not None and page.images),
        default="",
    )
    candidates = sorted(
        (image for page in pages for image in page.images if image.listed_at >= floor),
        key=lambda image: image.listed_at,
        reverse=True,
    )
    images = candidates[:limit]
    more = len(candidates) > len(images) or any(page.last_evaluated_key is not None for page in pages)
    return MergedPage(images=images, last_listed_at=images[-1].listed_at if more and images else None)


def _item(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values to DynamoDB attribute values (later parts win on equal names)."""
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return {name: _serializer.serialize(value) for name, value in merged.items()}


def _listing_page(items: Sequence[Mapping[str, Any]], last_key: Mapping[str, Any] | None) -> ListingPage:
    """The images of a Query or Scan answer, and its LastEvaluatedKey as plain strings (every key is one)."""
    return ListingPage(
        images=[_image_from(item) for item in items],
        last_evaluated_key={name: value["S"] for name, value in last_key.items()} if last_key else None,
    )


def _image_from(item: Mapping[str, Any]) -> Image:
    # The key and index attributes in the item are not part of the image and are ignored.
    return Image.model_validate({name: _deserializer.deserialize(value) for name, value in item.items()})
