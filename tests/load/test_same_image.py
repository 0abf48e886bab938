"""Concurrent operations on the same image: edits, downloads, reads, re-uploads and deletes at once.

Every request of a round starts together (a barrier), each on its own HTTP session, against
one image of one owner on the local cloud. Whatever order they land in, no answer is a 5xx,
and once processing has settled the table and the bucket agree completely:

* without deletes, the image is ``available`` with the bytes of one of the uploads, exactly
  that revision's original and variants, one tag item per tag of the last edit (and only
  those: a tag another edit set finds nothing), and nothing left under ``incoming/``;
* with deletes among them, nothing of the image is left: no record, no tag item, no object,
  even of a re-upload posted after the delete (its event finds no record and removes it).
  A delete may lose every race to the others and answer 409 (retry): then the owner's retry
  deletes it.

Bounded: 32 requests a round, two rounds, and a bounded wait for processing to settle.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from image_core import schema
from tests.integration.conftest import (
    HTTP_TIMEOUT,
    Backend,
    ImageApi,
    UploadGrant,
    png_bytes,
    post_object,
    request_upload,
    send_bytes,
    unique_user,
    wait_for,
    wait_until_available,
)

pytestmark = pytest.mark.integration

# Long enough for a re-upload queued behind the others to be processed on a busy machine.
SETTLE_SECONDS = 180.0
EDITS = 8
DOWNLOADS = 8
READS = 4
RE_UPLOADS = 8
LISTINGS = 4
DELETES = 4


@dataclass(frozen=True)
class Answer:
    operation: str
    status: int
    detail: str = ""


@dataclass(frozen=True)
class Subject:
    """The image every request of a round is about, and what its owner holds."""

    api: ImageApi
    image_id: str
    grant: UploadGrant
    tag_base: str
    # The revisions (sha256) of every upload of it: the first and each re-upload.
    revisions: set[str]


def _available_image(deployed_api: ImageApi, *, seed: int) -> Subject:
    user = unique_user()
    api = deployed_api.as_user(user)
    tag_base = f"same-{uuid.uuid4().hex[:10]}"
    grant = request_upload(api, user, [f"{tag_base}-first"])
    data = png_bytes(seed=seed)
    send_bytes(grant, data, "image/png")
    wait_until_available(api, grant.image_id)
    return Subject(api, grant.image_id, grant, tag_base, {hashlib.sha256(data).hexdigest()})


def _operations(subject: Subject, *, deletes: int, seed: int) -> list[Callable[[ImageApi], Answer]]:
    """The round's requests, shuffled; each takes its own session's API."""
    image_id = subject.image_id

    def edit(number: int) -> Callable[[ImageApi], Answer]:
        def run(api: ImageApi) -> Answer:
            response = api.edit(
                image_id,
                {"tags": [f"{subject.tag_base}-e{number}"], "description": f"edit {number}"},
            )
            return Answer("edit", response.status_code, response.text)

        return run

    def download(variant: str) -> Callable[[ImageApi], Answer]:
        def run(api: ImageApi) -> Answer:
            response = api.download(image_id, variant)
            if response.status_code != 200:
                return Answer(f"download {variant}", response.status_code, response.text[:200])
            # The bytes themselves, which a delete or a re-upload may have removed meanwhile.
            fetched = api.http.get(response.json()["url"], timeout=HTTP_TIMEOUT)
            return Answer(
                f"fetch {variant}",
                fetched.status_code,
                fetched.text[:200] if fetched.status_code >= 300 else "",
            )

        return run

    def read(api: ImageApi) -> Answer:
        response = api.get(image_id)
        return Answer("get", response.status_code, response.text[:200])

    def listing(api: ImageApi) -> Answer:
        response = api.list_images({"limit": "10"})
        return Answer("list", response.status_code, response.text[:200])

    def re_upload(number: int) -> Callable[[ImageApi], Answer]:
        data = png_bytes(seed=seed * 1000 + number)
        subject.revisions.add(hashlib.sha256(data).hexdigest())

        def run(_api: ImageApi) -> Answer:
            response = post_object(subject.grant, data, content_type="image/png")
            return Answer("re-upload", response.status_code, response.text[:200])

        return run

    def delete(api: ImageApi) -> Answer:
        response = api.delete(image_id)
        return Answer("delete", response.status_code, response.text[:200])

    variants = ["original", "preview", "thumbnail"]
    operations: list[Callable[[ImageApi], Answer]] = [
        *(edit(number) for number in range(EDITS)),
        *(download(variants[number % len(variants)]) for number in range(DOWNLOADS)),
        *([read] * READS),
        *([listing] * LISTINGS),
        *(re_upload(number) for number in range(RE_UPLOADS)),
        *([delete] * deletes),
    ]
    random.Random(seed).shuffle(operations)
    return operations


def _run_at_once(subject: Subject, operations: list[Callable[[ImageApi], Answer]]) -> list[Answer]:
    barrier = threading.Barrier(len(operations))

    def run(operation: Callable[[ImageApi], Answer]) -> Answer:
        api = ImageApi(
            subject.api.base_url, subject.api.issuer, user=subject.api.user, http=requests.Session()
        )
        try:
            barrier.wait()
            return operation(api)
        finally:
            api.http.close()

    with ThreadPoolExecutor(max_workers=len(operations)) as pool:
        answers = list(pool.map(run, operations))
    # The figures docs/reliability.md quotes (seen with -s): what each kind of request answered.
    tally = Counter(f"{answer.operation} {answer.status}" for answer in answers)
    print(f"\nsame-image round of {len(answers)} requests: {dict(sorted(tally.items()))}")
    return answers


# What each kind of request may answer while the others run: never a 5xx.
ALLOWED = {
    "edit": {200, 404, 409},
    "download original": {200, 404, 409},
    "download preview": {200, 404, 409},
    "download thumbnail": {200, 404, 409},
    # A link handed out just before a delete or a re-upload removed its object.
    "fetch original": {200, 403, 404},
    "fetch preview": {200, 403, 404},
    "fetch thumbnail": {200, 403, 404},
    "get": {200, 404},
    "list": {200},
    "re-upload": {201, 204},
    "delete": {204, 404, 409},
}


def _assert_no_server_error(answers: list[Answer]) -> None:
    unexpected = [answer for answer in answers if answer.status not in ALLOWED[answer.operation]]
    assert unexpected == [], unexpected
    assert all(answer.status < 500 for answer in answers)


def _settled(backend: Backend, subject: Subject) -> dict[str, Any] | None:
    """The image's record once processing has settled (nothing incoming, not pending), else None."""
    if backend.keys_under(schema.incoming_object_key(subject.image_id)):
        return None
    records = [
        item
        for item in backend.image_items(subject.image_id)
        if item[schema.SORT_KEY]["S"] == schema.IMAGE_SORT_KEY
    ]
    if records and records[0]["status"]["S"] in ("pending", "deleting"):
        return None
    return records[0] if records else {}


def test_concurrent_edits_downloads_reads_and_re_uploads_of_one_image_leave_it_whole(
    deployed_api: ImageApi, backend: Backend
) -> None:
    # Given an available image
    subject = _available_image(deployed_api, seed=31)

    # When its owner edits, downloads, reads, lists and re-uploads it, all at once
    answers = _run_at_once(subject, _operations(subject, deletes=0, seed=32))

    # Then nothing answered a 5xx; every read succeeded, and so did some edits (others may have
    # lost to them more often than an edit retries: a 409 that says to retry, writing nothing)
    _assert_no_server_error(answers)
    assert {answer.status for answer in answers if answer.operation == "get"} == {200}
    edited_tags = {
        tuple(json.loads(answer.detail)["tags"])
        for answer in answers
        if answer.operation == "edit" and answer.status == 200
    }
    assert edited_tags
    # And once processing settled, the image is available with one upload's bytes: exactly that
    # revision's original and variants, nothing incoming
    record = wait_for(lambda: _settled(backend, subject), timeout=SETTLE_SECONDS, what="processing settled")
    assert record["status"]["S"] == "available", record
    revision = record["revision"]["S"]
    assert revision in subject.revisions
    assert backend.stored_keys(subject.image_id) == sorted(
        schema.revision_object_keys(subject.image_id, revision)
    )
    # And its tag items are exactly the last edit's tags: every listing agrees with the record
    tags = [value["S"] for value in record["tags"]["L"]]
    assert tuple(tags) in edited_tags
    tag_items = sorted(
        item[schema.SORT_KEY]["S"]
        for item in backend.image_items(subject.image_id)
        if item[schema.SORT_KEY]["S"] != schema.IMAGE_SORT_KEY
    )
    assert tag_items == [schema.tag_sort_key(tags[0])]
    for number in range(EDITS):
        tag = f"{subject.tag_base}-e{number}"
        assert subject.api.listed_ids({"tag": tag}) == ([subject.image_id] if tag in tags else [])
    assert subject.api.listed_ids({"tag": f"{subject.tag_base}-first"}) == []
    # And what a download serves is the recorded bytes
    url = subject.api.download(subject.image_id).json()["url"]
    assert hashlib.sha256(requests.get(url, timeout=HTTP_TIMEOUT).content).hexdigest() == revision


def test_concurrent_deletes_among_edits_downloads_and_re_uploads_of_one_image_leave_nothing(
    deployed_api: ImageApi, backend: Backend
) -> None:
    # Given an available image
    subject = _available_image(deployed_api, seed=41)

    # When its owner deletes it several times while editing, downloading and re-uploading it
    answers = _run_at_once(subject, _operations(subject, deletes=DELETES, seed=42))

    # Then nothing answered a 5xx
    _assert_no_server_error(answers)
    # And if every delete lost to the other writers (a 409 that says to retry), the owner's
    # retry deletes it
    if 204 not in {answer.status for answer in answers if answer.operation == "delete"}:
        wait_for(
            lambda: subject.api.delete(subject.image_id).status_code in (204, 404),
            timeout=60,
            interval=1.0,
            what="a retried delete",
        )
    # And once processing settled (re-uploads posted after the delete included), nothing of the
    # image is left: no record, no tag item, no object
    wait_for(lambda: _settled(backend, subject) == {}, timeout=SETTLE_SECONDS, what="nothing left")
    assert backend.image_items(subject.image_id) == []
    assert backend.stored_keys(subject.image_id) == []
    assert subject.api.get(subject.image_id).status_code == 404
    for number in range(EDITS):
        assert subject.api.listed_ids({"tag": f"{subject.tag_base}-e{number}"}) == []
