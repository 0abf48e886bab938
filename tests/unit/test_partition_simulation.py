"""The partition simulation's counting (``bench/partition_simulation.py``): what it counts is what
the repository writes, and its figures follow from the counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from bench import partition_simulation as simulation
from image_core import schema
from image_core.repository import ImageRepository
from tests.unit.conftest import TABLE_NAME, Aws


def test_every_index_key_of_an_item_counts_one_write_to_its_partition() -> None:
    items = [
        {"pk": "IMAGE#1", "sk": "IMAGE", "user_pk": "USER#a", "public_pk": "PUBLIC#3", "listed_at": "x"},
        {"pk": "IMAGE#1", "sk": "TAG#cat", "user_tag_pk": "USER#a#TAG#cat", "public_pk": "PUBLIC#TAG#cat#3"},
        {"pk": "IMAGE#2", "sk": "IMAGE", "user_pk": "USER#a"},
        # A pending record: in no index
        {"pk": "IMAGE#3", "sk": "IMAGE", "status": "pending"},
    ]

    assert simulation.count_index_writes(items) == Counter(
        {
            ("by-user", "USER#a"): 2,
            ("public", "PUBLIC#3"): 1,
            ("by-user-tag", "USER#a#TAG#cat"): 1,
            ("public", "PUBLIC#TAG#cat#3"): 1,
        }
    )


def test_the_hottest_partition_its_share_and_its_rates() -> None:
    counts = Counter({("public", "PUBLIC#0"): 30, ("by-user", "USER#a"): 50, ("by-user", "USER#b"): 20})

    top = simulation.hottest(counts, uploads=100, rates=(1000, 10_000))

    assert (top.index, top.partition, top.writes) == ("by-user", "USER#a", 50)
    assert top.share == pytest.approx(0.5)
    # Half a write per upload: 500 a second at 1,000 uploads a second
    assert top.rates == {1000: pytest.approx(500), 10_000: pytest.approx(5000)}


def test_equal_partitions_are_ranked_by_name() -> None:
    counts = Counter({("public", "PUBLIC#1"): 5, ("public", "PUBLIC#0"): 5})

    assert simulation.hottest(counts, uploads=10).partition == "PUBLIC#0"


def test_the_workload_is_zipf_tagged_a_tenth_public_and_spread_over_users() -> None:
    uploads = list(simulation.workload(uploads=5000, users=500))

    per_user = Counter(upload.user_id for upload in uploads)
    tags = Counter(tag for upload in uploads for tag in upload.tags)
    public = sum(upload.visibility is schema.Visibility.PUBLIC for upload in uploads)
    assert set(per_user.values()) == {10}
    assert 0.08 < public / len(uploads) < 0.12
    # Zipf: the first tag is the commonest, about twice the second
    (first, first_count), (second, second_count) = tags.most_common(2)
    assert (first, second) == ("tag1", "tag2")
    assert 1.5 < first_count / second_count < 3


def test_the_requests_count_what_the_table_holds(aws: Aws) -> None:
    # Given the same uploads driven into the table and into the recorder, with the layout of a
    # stage without authentication (every index written, sharded)
    uploads = list(simulation.workload(uploads=60, users=6, public_share=0.5))
    layout = simulation.LAYOUTS["after-auth-none"]
    start = datetime(2026, 11, 30, tzinfo=UTC)
    simulation.drive(ImageRepository(aws.dynamodb, TABLE_NAME, layout), uploads, start=start)
    recorder = simulation.Recorder()
    simulation.drive(ImageRepository(recorder.client, "recorded", layout), uploads, start=start)

    # Then the writes counted from the requests are the index entries in the table
    in_table = simulation.count_index_writes(aws.table_items())
    assert recorder.counts == in_table
    assert {index for index, _ in in_table} == {index.name for index in schema.LIST_INDEXES} | {
        schema.DUPLICATES.name
    }


def test_sharding_brings_the_hottest_partition_under_a_thousand_writes_at_ten_thousand_uploads() -> None:
    uploads = list(simulation.workload(uploads=2000, users=200))

    before = simulation.simulate(None, "before", uploads)
    after = simulation.simulate(None, "after", uploads)

    # Before: every upload into the one all-images partition; after: no partition near the ceiling
    assert (before.hottest.index, before.hottest.partition) == ("all-images", "IMAGES#0")
    assert before.hottest.rates[10_000] == pytest.approx(10_000)
    assert after.hottest.rates[10_000] <= simulation.PARTITION_WRITE_UNITS_PER_SECOND
