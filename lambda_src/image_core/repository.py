"""The metadata table: every DynamoDB call of the service, and nothing else.

Layout and lifecycle are in ``image_core.schema`` and ``docs/design-brief.md``. This is the
edge where ``ClientError`` codes become domain errors; callers above never see botocore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from image_core import schema
from image_core.errors import Conflict, NotFound, error_code, throttling_as_rate_limited
from image_core.models import Image, Listing
from image_core.schema import ImageStatus, Visibility

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef, TransactWriteItemTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Expression placeholders for the attribute names the expressions touch; several ("status",
# "size") are DynamoDB reserved words, and the rest come from the schema rather than literals.
_ATTRIBUTE_NAMES = {
    "#pk": schema.PARTITION_KEY,
    "#status": "status",
    "#size": "size",
    "#all_pk": schema.ALL_IMAGES.partition_key,
    "#user_pk": schema.BY_USER.partition_key,
    "#public_pk": schema.PUBLIC.partition_key,
    "#listed_at": schema.LISTED_AT,
}


@dataclass(frozen=True)
class ListingPage:
    images: list[Image]
    # DynamoDB's LastEvaluatedKey (all its attributes are strings); None when the query is done.
    last_evaluated_key: dict[str, str] | None


class ImageRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def create_pending(self, image: Image) -> None:
        """Store a new image record; it is invisible to listings until it becomes available."""
        try:
            with throttling_as_rate_limited():
                self._client.put_item(
                    TableName=self._table_name,
                    Item=_item(_image_key(image.image_id), _attributes(image)),
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

    def mark_available(self, image: Image, size: int) -> Image:
        """Make the image listable, in every index, in one transaction.

        Raises ``NotFound`` when the record is gone or being deleted; re-running it for an
        available image rewrites the same facts (a re-delivered event or a re-upload).
        """
        available = image.model_copy(update={"status": ImageStatus.AVAILABLE, "size": size})
        # The image item's index keys, by placeholder: listed by user (and among all images),
        # and a public image among the public ones too.
        listed = {
            "#all_pk": schema.ALL_IMAGES.partition_value(),
            "#user_pk": schema.BY_USER.partition_value(user_id=image.user_id),
            "#listed_at": image.listed_at,
        }
        if image.visibility is Visibility.PUBLIC:
            listed["#public_pk"] = schema.PUBLIC.partition_value()
        image_update: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table_name,
                "Key": _item(_image_key(image.image_id)),
                "UpdateExpression": "SET #status = :available, #size = :size, "
                + ", ".join(f"{name} = :{name[1:]}" for name in listed),
                "ConditionExpression": "attribute_exists(#pk) AND #status <> :deleting",
                "ExpressionAttributeNames": _names("#pk", "#status", "#size", *listed),
                "ExpressionAttributeValues": _item(
                    {
                        ":available": ImageStatus.AVAILABLE.value,
                        ":deleting": ImageStatus.DELETING.value,
                        ":size": size,
                    },
                    {f":{name[1:]}": value for name, value in listed.items()},
                ),
            }
        }
        tag_puts: list[TransactWriteItemTypeDef] = [
            {"Put": {"TableName": self._table_name, "Item": _tag_item(available, tag)}} for tag in image.tags
        ]
        self._transact([image_update, *tag_puts], image_id=image.image_id)
        return available

    def list_page(self, listing: Listing, *, limit: int, start_key: Mapping[str, str] | None) -> ListingPage:
        """One page of available images, newest first: one Query on one index partition.

        No FilterExpression, so the items read are the items returned and a page costs at most
        ``limit`` items.
        """
        key_condition = "#partition = :partition"
        names = {"#partition": listing.index.partition_key}
        values: dict[str, Any] = {":partition": listing.partition_value}
        if listing.listed_at_range is not None:
            key_condition += " AND #listed_at BETWEEN :from AND :to"
            names["#listed_at"] = schema.LISTED_AT
            values[":from"], values[":to"] = listing.listed_at_range
        query: QueryInputTypeDef = {
            "TableName": self._table_name,
            "IndexName": listing.index.name,
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
        last_key = response.get("LastEvaluatedKey")
        return ListingPage(
            images=[_image_from(item) for item in response.get("Items", [])],
            last_evaluated_key={name: value["S"] for name, value in last_key.items()} if last_key else None,
        )

    def hide_for_deletion(self, image: Image) -> None:
        """Mark the image ``deleting`` and take it and its tag items out of every index, atomically.

        The image item stays (without index keys) until the object is gone, so a DELETE that
        fails after this point is finished by retrying it. Raises ``NotFound`` if the record
        is already gone.
        """
        hide: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table_name,
                "Key": _item(_image_key(image.image_id)),
                "UpdateExpression": (
                    "SET #status = :deleting REMOVE #all_pk, #user_pk, #public_pk, #listed_at"
                ),
                "ConditionExpression": "attribute_exists(#pk)",
                "ExpressionAttributeNames": _names(
                    "#pk", "#status", "#all_pk", "#user_pk", "#public_pk", "#listed_at"
                ),
                "ExpressionAttributeValues": _item({":deleting": ImageStatus.DELETING.value}),
            }
        }
        # The record's tag list never changes after upload, so it names every tag item there is.
        tag_deletes: list[TransactWriteItemTypeDef] = [
            {"Delete": {"TableName": self._table_name, "Key": _item(_tag_key(image.image_id, tag))}}
            for tag in image.tags
        ]
        self._transact([hide, *tag_deletes], image_id=image.image_id)

    def delete_image_item(self, image_id: str) -> None:
        """The last step of a delete; deleting an item that is already gone is not an error."""
        with throttling_as_rate_limited():
            self._client.delete_item(TableName=self._table_name, Key=_item(_image_key(image_id)))

    def _transact(self, items: list[TransactWriteItemTypeDef], *, image_id: str) -> None:
        """Run a transaction whose first item is the conditional write of the image item."""
        try:
            with throttling_as_rate_limited():
                self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise NotFound(f"image {image_id} not found") from error
            if "TransactionConflict" in reasons:
                raise Conflict(f"image {image_id} is being changed by another request; retry") from error
            raise


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


def _tag_item(image: Image, tag: str) -> dict[str, Any]:
    """A copy of the listing attributes under the tag's indexes, so a tag query needs no second read."""
    index_keys = {
        schema.BY_TAG.partition_key: schema.BY_TAG.partition_value(tag=tag),
        schema.BY_USER_TAG.partition_key: schema.BY_USER_TAG.partition_value(user_id=image.user_id, tag=tag),
        schema.LISTED_AT: image.listed_at,
    }
    if image.visibility is Visibility.PUBLIC:
        index_keys[schema.PUBLIC.partition_key] = schema.PUBLIC.partition_value(tag=tag)
    return _item(_tag_key(image.image_id, tag), _attributes(image), index_keys)


def _item(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values to DynamoDB attribute values (later parts win on equal names)."""
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return {name: _serializer.serialize(value) for name, value in merged.items()}


def _image_from(item: Mapping[str, Any]) -> Image:
    # The key and index attributes in the item are not part of the image and are ignored.
    return Image.model_validate({name: _deserializer.deserialize(value) for name, value in item.items()})
