"""Which index partition gets the most writes, before and after sharding: a simulation.

    make simulate                                    # 100,000 uploads by 10,000 users, counted
    make simulate SIMULATE_BACKEND=localcloud SIMULATE_UPLOADS=300   # into the local cloud's table

A synthetic workload (uploads spread evenly over users, Zipf-distributed tags, a share of them
public) is driven through the service's own repository (``create_pending`` then
``mark_available``, as an upload request and processing make them), once per listing layout.
Every index key an item is written with counts as one write into that index partition (an
upload writes each index entry once: pending records carry no index keys). From the counts: the
hottest partition's share of all index writes, and the writes a second it would receive at
1,000 and 10,000 uploads a second (its writes per upload times the rate). DynamoDB takes about
1,000 write units a second per partition, and an item collection whose sort key grows with time
cannot be split for heat.

The layouts: ``before`` is the service before sharding (one partition per global listing, the
all-users indexes written whatever the auth mode: a single shard is exactly that), ``after`` the
deployed default (16 shards, tokens on: no all-users indexes), ``after-auth-none`` 16 shards with
the all-users indexes written.

Backends: ``localcloud`` and ``moto`` create a table with the service's keys and indexes (on the
local cloud ``LOCALCLOUD_PORT`` names, or in-process), drive the uploads into it, read every item
back and count the index keys they carry; the table is deleted afterwards. Both slow down as the
table grows (moto looks at every item on a write): on this machine about 1 s an upload on the
local cloud, so 100,000 would take more than a day. ``recorder`` (the default) sends nothing: a
DynamoDB client whose every call succeeds at once counts the index keys of the requests the
repository makes, in minutes for 100,000 uploads. A unit test proves both counts equal for the
same uploads (``tests/unit/test_partition_simulation.py``), and docs/scale.md gives a run of each.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.awsrequest import AWSResponse, HTTPHeaders

# The functions' code, from lambda_src (make simulate puts it on PYTHONPATH).
from image_core import schema
from image_core.image import Image, ImageFacts
from image_core.repository import ImageRepository
from image_core.schema import ImageStatus, ListingLayout, Visibility

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# DynamoDB's write ceiling of one partition (write units a second; an index entry of up to 1 KB
# costs one), and the target: no partition key above it at this many uploads a second.
PARTITION_WRITE_UNITS_PER_SECOND = 1000
RATES = (1000, 10_000)

LAYOUTS: dict[str, ListingLayout] = {
    "before": ListingLayout(shards=1, read_shards=1, all_users_indexes=True),
    "after": ListingLayout(),
    "after-auth-none": ListingLayout(all_users_indexes=True),
}

# Every index key attribute -> its index's name.
INDEX_KEYS: Mapping[str, str] = {
    **{index.partition_key: index.name for index in schema.LIST_INDEXES},
    schema.DUPLICATES.partition_key: schema.DUPLICATES.name,
}

_FACTS = ImageFacts(
    size=1_200_000,
    width=4032,
    height=3024,
    format="JPEG",
    sha256="0" * 64,
    frames=1,
    exif_orientation=1,
)


# --- the workload ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    user_id: str
    tags: tuple[str, ...]
    visibility: Visibility


def zipf_weights(vocabulary: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..vocabulary under Zipf's law: rank k weighs 1 / k**exponent."""
    return list(itertools.accumulate(1 / rank**exponent for rank in range(1, vocabulary + 1)))


def workload(
    *,
    uploads: int,
    users: int,
    public_share: float = 0.10,
    vocabulary: int = 1000,
    exponent: float = 1.1,
    most_tags: int = 3,
    seed: int = 18,
) -> Iterator[Upload]:
    """``uploads`` uploads spread evenly over ``users`` users; each with 0..most_tags distinct tags
    drawn by Zipf's law (so one tag is on a large share of uploads), public with ``public_share``."""
    rng = random.Random(seed)
    cumulative = zipf_weights(vocabulary, exponent)
    total = cumulative[-1]
    for number in range(uploads):
        tags: set[str] = set()
        for _ in range(rng.randint(0, most_tags)):
            rank = bisect.bisect_left(cumulative, rng.random() * total)
            tags.add(f"tag{rank + 1}")
        visibility = Visibility.PUBLIC if rng.random() < public_share else Visibility.PRIVATE
        yield Upload(user_id=f"user{number % users}", tags=tuple(sorted(tags)), visibility=visibility)


# --- counting ----------------------------------------------------------------------------------------


def count_index_writes(items: Iterable[Mapping[str, Any]]) -> Counter[tuple[str, str]]:
    """(index name, partition value) -> how many items carry that index key: the writes it took."""
    counts: Counter[tuple[str, str]] = Counter()
    for item in items:
        for attribute, index_name in INDEX_KEYS.items():
            value = item.get(attribute)
            if value is not None:
                counts[index_name, str(value)] += 1
    return counts


@dataclass(frozen=True)
class Hottest:
    index: str
    partition: str
    writes: int
    # Its share of every index write of the run.
    share: float
    # The writes a second it receives for each upload rate (writes per upload times the rate).
    rates: dict[int, float]


def hottest(counts: Counter[tuple[str, str]], *, uploads: int, rates: Sequence[int] = RATES) -> Hottest:
    """The partition with the most writes (ties: the first in name order), and what it would receive."""
    if not counts or uploads <= 0:
        raise ValueError("nothing was written")
    (index, partition), writes = min(counts.items(), key=lambda entry: (-entry[1], entry[0]))
    return Hottest(
        index=index,
        partition=partition,
        writes=writes,
        share=writes / sum(counts.values()),
        rates={rate: writes / uploads * rate for rate in rates},
    )


def hottest_per_index(counts: Counter[tuple[str, str]], *, uploads: int) -> dict[str, Hottest]:
    by_index: dict[str, Counter[tuple[str, str]]] = {}
    for (index, partition), writes in counts.items():
        by_index.setdefault(index, Counter())[index, partition] = writes
    return {index: hottest(index_counts, uploads=uploads) for index, index_counts in sorted(by_index.items())}


def count_request_writes(operation: str, params: Mapping[str, Any]) -> Counter[tuple[str, str]]:
    """The index writes one request of the repository makes: (index, partition) -> entries written.

    What ``count_index_writes`` finds in the table afterwards, found in the requests instead (an
    item put with index keys, or an update setting them), so that a workload can be counted
    without a table. Removing a key (REMOVE) writes no entry.
    """
    deserializer = TypeDeserializer()
    counts: Counter[tuple[str, str]] = Counter()

    def put(item: Mapping[str, Any]) -> None:
        counts.update(
            count_index_writes([{name: deserializer.deserialize(value) for name, value in item.items()}])
        )

    def update(expression: str, names: Mapping[str, str], values: Mapping[str, Any]) -> None:
        assignments = expression.split(" REMOVE ")[0].removeprefix("SET ").split(", ")
        for assignment in assignments:
            name, _, value = assignment.partition(" = ")
            index_name = INDEX_KEYS.get(names.get(name, ""))
            if index_name is not None and value in values:
                counts[index_name, str(deserializer.deserialize(values[value]))] += 1

    if operation == "PutItem":
        put(params["Item"])
    elif operation == "UpdateItem":
        update(
            params["UpdateExpression"],
            params["ExpressionAttributeNames"],
            params["ExpressionAttributeValues"],
        )
    elif operation == "TransactWriteItems":
        for entry in params["TransactItems"]:
            if "Put" in entry:
                put(entry["Put"]["Item"])
            elif "Update" in entry:
                change = entry["Update"]
                update(
                    change["UpdateExpression"],
                    change["ExpressionAttributeNames"],
                    change["ExpressionAttributeValues"],
                )
    return counts


# --- driving the repository ------------------------------------------------------------------------


def create_table(client: DynamoDBClient, name: str) -> None:
    """A table with the service's keys and indexes (as ``stacks/metadata_table.py`` defines them)."""
    key_names = {schema.PARTITION_KEY, schema.SORT_KEY, schema.LISTED_AT, *INDEX_KEYS}
    indexes: list[Any] = [
        {
            "IndexName": index.name,
            "KeySchema": [
                {"AttributeName": index.partition_key, "KeyType": "HASH"},
                {"AttributeName": schema.LISTED_AT, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for index in schema.LIST_INDEXES
    ]
    indexes.append(
        {
            "IndexName": schema.DUPLICATES.name,
            "KeySchema": [
                {"AttributeName": schema.DUPLICATES.partition_key, "KeyType": "HASH"},
                {"AttributeName": schema.LISTED_AT, "KeyType": "RANGE"},
            ],
            "Projection": {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": list(schema.DUPLICATES.projected),
            },
        }
    )
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in sorted(key_names)],
        GlobalSecondaryIndexes=indexes,
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)


def drive(repository: ImageRepository, uploads: Iterable[Upload], *, start: datetime) -> int:
    """Each upload as the service makes it: a pending record, then processing marks it available."""
    count = 0
    # Image ids as random as uuid4's, but the same in every run: runs on different backends
    # put the same images in the same shards, so their counts can be compared.
    ids = random.Random(start.isoformat())
    for count, upload in enumerate(uploads, start=1):
        created_at = (start + timedelta(milliseconds=count)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        pending = Image.model_validate(
            {
                "image_id": uuid.UUID(int=ids.getrandbits(128)).hex,
                "user_id": upload.user_id,
                "tags": list(upload.tags),
                "content_type": "image/jpeg",
                "status": ImageStatus.PENDING,
                "created_at": created_at,
                "visibility": upload.visibility,
                "expires_at": 4_000_000_000,
            }
        )
        facts = _FACTS.model_copy(update={"perceptual_hash": f"{count:016x}"})
        available = pending.made_available(revision=f"{count:064x}", facts=facts, duplicate_of=None)
        repository.create_pending(pending)
        repository.mark_available(available, as_read=pending, now=0)
    return count


def table_items(client: DynamoDBClient, table: str) -> Iterator[dict[str, Any]]:
    deserializer = TypeDeserializer()
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            yield {name: deserializer.deserialize(value) for name, value in item.items()}
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class Recorder:
    """A DynamoDB client that sends nothing: it counts the index writes of each request the
    repository makes (``count_request_writes``) and answers every request with success."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.requests = 0
        self.client: DynamoDBClient = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url="http://recorder.invalid",
            aws_access_key_id="recorder",
            aws_secret_access_key="recorder",  # noqa: S106 - no credentials: nothing is sent
        )
        self.client.meta.events.register("before-parameter-build.dynamodb.*", self._count)
        # botocore's stubs type every handler as returning None; a before-call handler may return
        # (response, parsed) instead, and the call then ends there without sending anything.
        self.client.meta.events.register("before-call.dynamodb.*", self._answer)  # type: ignore[arg-type]

    def _count(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests += 1
        self.counts.update(count_request_writes(model.name, params))

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("http://recorder.invalid", 200, HTTPHeaders(), None), {}


@dataclass(frozen=True)
class Run:
    layout: str
    uploads: int
    seconds: float
    index_writes: int
    hottest: Hottest
    per_index: dict[str, Hottest]


def simulate(client: DynamoDBClient | None, layout_name: str, uploads: Sequence[Upload]) -> Run:
    """Drive the uploads into a new table of ``client`` and count what it holds, or with None,
    into a ``Recorder`` and count what the requests wrote."""
    started = time.monotonic()
    if client is None:
        recorder = Recorder()
        repository = ImageRepository(recorder.client, "recorded", LAYOUTS[layout_name])
        count = drive(repository, uploads, start=datetime(2026, 11, 30, tzinfo=UTC))
        seconds = time.monotonic() - started
        counts = recorder.counts
    else:
        table = f"partition-simulation-{layout_name}-{uuid.uuid4().hex[:8]}"
        create_table(client, table)
        try:
            repository = ImageRepository(client, table, LAYOUTS[layout_name])
            count = drive(repository, uploads, start=datetime(2026, 11, 30, tzinfo=UTC))
            seconds = time.monotonic() - started
            counts = count_index_writes(table_items(client, table))
        finally:
            client.delete_table(TableName=table)
    return Run(
        layout=layout_name,
        uploads=count,
        seconds=seconds,
        index_writes=sum(counts.values()),
        hottest=hottest(counts, uploads=count),
        per_index=hottest_per_index(counts, uploads=count),
    )


@contextmanager
def dynamodb_client(backend: str) -> Iterator[DynamoDBClient | None]:
    """The table's client; None for the recorder (no table)."""
    if backend == "recorder":
        yield None
        return
    if backend == "moto":
        from moto import mock_aws

        with mock_aws():
            yield boto3.client("dynamodb", region_name="us-east-1")
        return
    port = os.environ.get("LOCALCLOUD_PORT", "4566")
    yield boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - the local cloud's dummy credentials
    )


# --- the report -------------------------------------------------------------------------------------


def report(runs: Sequence[Run]) -> str:
    top_rate = RATES[-1]
    lines = []
    for run in runs:
        top = run.hottest
        verdict = "within" if top.rates[top_rate] <= PARTITION_WRITE_UNITS_PER_SECOND else "over"
        rates = ", ".join(
            f"{rate:,} uploads/s -> {per_second:,.0f} writes/s" for rate, per_second in top.rates.items()
        )
        ceiling = PARTITION_WRITE_UNITS_PER_SECOND
        lines += [
            f"{run.layout}: {run.uploads:,} uploads ({run.seconds:.0f} s), {run.index_writes:,} index writes",
            f"  hottest {top.index} {top.partition!r}: {top.writes:,} writes, {top.share:.1%} of all",
            f"  {rates} ({verdict} {ceiling:,} per partition at {top_rate:,} uploads/s)",
        ]
        for index, index_top in run.per_index.items():
            lines.append(
                f"    {index:14} hottest {index_top.partition!r:36} {index_top.writes:>7,} writes "
                f"{index_top.share:6.1%} of the index's, {index_top.rates[top_rate]:>7,.0f}/s at {top_rate:,}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--public-share", type=float, default=0.10)
    parser.add_argument("--backend", choices=("localcloud", "moto", "recorder"), default="recorder")
    parser.add_argument("--layouts", nargs="+", choices=sorted(LAYOUTS), default=list(LAYOUTS))
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.uploads <= 1_000_000 or not 0 < arguments.users <= arguments.uploads:
        parser.error("need 0 < users <= uploads <= 1,000,000")
    uploads = list(
        workload(uploads=arguments.uploads, users=arguments.users, public_share=arguments.public_share)
    )
    public = sum(upload.visibility is Visibility.PUBLIC for upload in uploads) / len(uploads)
    tags = sum(len(upload.tags) for upload in uploads)
    print(
        f"workload: {len(uploads):,} uploads by {arguments.users:,} users, {public:.1%} public, "
        f"{tags:,} tags (Zipf, s=1.1, over 1,000 tags); backend {arguments.backend}",
        flush=True,
    )
    runs = []
    with dynamodb_client(arguments.backend) as client:
        for layout in arguments.layouts:
            runs.append(simulate(client, layout, uploads))
            print(report(runs[-1:]), flush=True)
    if arguments.json:
        print(json.dumps([_as_json(run) for run in runs], indent=2))
    after = [run for run in runs if run.layout != "before"]
    return 0 if all(run.hottest.rates[RATES[-1]] <= PARTITION_WRITE_UNITS_PER_SECOND for run in after) else 1


def _as_json(run: Run) -> dict[str, Any]:
    def hot(top: Hottest) -> dict[str, Any]:
        return {
            "index": top.index,
            "partition": top.partition,
            "writes": top.writes,
            "share": round(top.share, 6),
            "writes_per_second": {str(rate): math.ceil(value) for rate, value in top.rates.items()},
        }

    return {
        "layout": run.layout,
        "uploads": run.uploads,
        "seconds": round(run.seconds, 1),
        "index_writes": run.index_writes,
        "hottest": hot(run.hottest),
        "per_index": {index: hot(top) for index, top in run.per_index.items()},
    }


if __name__ == "__main__":
    sys.exit(main())
