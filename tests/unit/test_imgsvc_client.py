"""The imgsvc client library against a fake HTTP layer: what it sends, and what it makes of answers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from imgsvc import (
    ApiError,
    Client,
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidParameter,
    NetworkError,
    NotFound,
    ProcessingTimeout,
    RateLimited,
    ServiceError,
    StorageError,
    Unauthorized,
    UploadRefused,
)
from imgsvc.multipart import CHUNK_BYTES, presigned_post_body
from tests import images
from tests.unit.imgsvc_fake import API, POST_FIELDS, STORAGE, TOKEN, FakeService, error


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeService:
    return FakeService()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(fake: FakeService, clock: FakeClock) -> Client:
    return Client(API, TOKEN, transport=fake.transport, sleep=clock.sleep, clock=clock)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- uploads --------------------------------------------------------------------------------------


def test_upload_declares_the_type_the_bytes_have_not_the_name(
    tmp_path: Path, fake: FakeService, client: Client
) -> None:
    # Given a PNG whose name says JPEG
    path = write(tmp_path, "holiday.jpg", images.png(2, 2))

    # When it is uploaded with tags, a description and public visibility
    image = client.upload(path, tags=["Cat", "holiday"], description="on the beach", visibility="public")

    # Then the upload was requested as a PNG with those fields, as a JSON body
    (requested,) = fake.api_requests("POST", "images/upload")
    assert json.loads(requested.content) == {
        "content_type": "image/png",
        "tags": ["Cat", "holiday"],
        "description": "on the beach",
        "visibility": "public",
    }
    # And the image came back available once processed
    assert (image.status, image.tags, image.visibility) == ("available", ("cat", "holiday"), "public")


def test_upload_sends_the_presigned_fields_as_plain_strings_first_and_the_file_last(
    tmp_path: Path, fake: FakeService, client: Client
) -> None:
    data = images.jpeg(64, 48)
    path = write(tmp_path, "cat.jpg", data)

    image = client.upload(path)

    upload = fake.uploads[image.image_id]
    # Every field exactly as handed out, the XML tagging field untouched, in order, before the file
    assert [name for name, _ in upload.fields] == list(POST_FIELDS)
    assert dict(upload.fields)["tagging"] == POST_FIELDS["tagging"]
    assert dict(upload.fields)["Content-Type"] == "image/jpeg"
    assert upload.data == data
    # With a length S3 can check (it refuses chunked uploads)
    assert upload.headers["Content-Length"].isdigit()
    assert "Transfer-Encoding" not in upload.headers


def test_the_bearer_token_goes_to_the_api_only_never_to_the_storage(
    tmp_path: Path, fake: FakeService, client: Client
) -> None:
    image = client.upload(write(tmp_path, "cat.png", images.png()))
    client.download(image.image_id, io.BytesIO())

    storage = [request for request in fake.requests if str(request.url).startswith(STORAGE)]
    api = [request for request in fake.requests if str(request.url).startswith(API)]
    assert len(storage) == 2
    assert all("Authorization" not in request.headers for request in storage)
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}" for request in api)


def test_upload_reports_progress_for_every_byte_in_chunks(tmp_path: Path, client: Client) -> None:
    # Given a file of several chunks (a real PNG, padded: decoders stop at IEND)
    data = images.png(16, 16) + b"\0" * (3 * CHUNK_BYTES + 100)
    path = write(tmp_path, "big.png", data)
    started: list[int] = []
    progress: list[int] = []
    sent: list[int] = []

    client.upload(
        path, on_start=started.append, on_progress=progress.append, on_sent=lambda: sent.append(sum(progress))
    )

    assert started == [len(data)]
    assert sum(progress) == len(data)
    assert sent == [len(data)]
    assert len(progress) == -(-len(data) // CHUNK_BYTES) == 4


def test_a_file_that_is_no_accepted_image_is_refused_before_anything_is_sent(
    tmp_path: Path, fake: FakeService, client: Client
) -> None:
    path = write(tmp_path, "notes.jpg", b"just some text, named like a photo\n")

    with pytest.raises(UploadRefused) as refused:
        client.upload(path)

    assert (refused.value.reason, refused.value.status, refused.value.image_id) == (
        "unsupported_format",
        "refused",
        None,
    )
    assert fake.requests == []


def test_a_file_over_the_upload_limit_is_refused_before_anything_is_sent(
    tmp_path: Path, fake: FakeService, client: Client
) -> None:
    path = write(tmp_path, "huge.png", images.png(2, 2))
    with path.open("r+b") as file:
        file.truncate(20 * 1024 * 1024 + 1)  # sparse: no 20 MiB written

    with pytest.raises(UploadRefused) as refused:
        client.upload(path)

    assert refused.value.reason == "too_large"
    assert fake.requests == []


def test_an_upload_the_service_rejects_raises_with_its_reason_and_id(
    tmp_path: Path, fake: FakeService, client: Client
) -> None:
    fake.verdict = lambda data: "corrupt"
    path = write(tmp_path, "broken.jpg", images.truncated(images.jpeg()))

    with pytest.raises(UploadRefused) as refused:
        client.upload(path)

    assert (refused.value.reason, refused.value.status) == ("corrupt", "rejected")
    assert refused.value.image_id in fake.images


@pytest.mark.parametrize(
    ("code", "reason"), [("EntityTooLarge", "too_large"), ("AccessDenied", "storage_refused")]
)
def test_a_post_the_storage_refuses_is_a_refused_upload(
    tmp_path: Path, fake: FakeService, client: Client, code: str, reason: str
) -> None:
    s3_error = f"<Error><Code>{code}</Code><Message>no</Message></Error>"
    fake.overrides[f"POST {STORAGE}"] = lambda request: httpx.Response(400, text=s3_error)

    with pytest.raises(UploadRefused) as refused:
        client.upload(write(tmp_path, "cat.png", images.png()))

    assert refused.value.reason == reason
    assert refused.value.image_id in fake.images


def test_upload_waits_for_processing_with_growing_pauses(
    tmp_path: Path, fake: FakeService, client: Client, clock: FakeClock
) -> None:
    fake.pending_polls = 4

    image = client.upload(write(tmp_path, "cat.png", images.png()))

    assert image.status == "available"
    assert len(fake.api_requests("GET", f"images/{image.image_id}")) == 5
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0]


def test_waiting_gives_up_after_the_time_given(
    tmp_path: Path, fake: FakeService, client: Client, clock: FakeClock
) -> None:
    fake.pending_polls = 10_000

    with pytest.raises(ProcessingTimeout) as timeout:
        client.upload(write(tmp_path, "cat.png", images.png()), wait_seconds=10)

    assert timeout.value.image_id in fake.images
    assert clock.now == pytest.approx(10)


def test_upload_without_waiting_answers_the_pending_image(
    tmp_path: Path, fake: FakeService, client: Client
) -> None:
    fake.pending_polls = 10_000

    image = client.upload(write(tmp_path, "cat.png", images.png()), wait=False)

    assert image.status == "pending"


def test_the_multipart_body_is_exactly_as_long_as_it_says(tmp_path: Path) -> None:
    path = write(tmp_path, 'we"ird\nname.png', images.png())

    body = presigned_post_body({"key": "k", "tagging": "<Tagging/>"}, path, file_content_type="image/png")

    sent = b"".join(body.chunks)
    assert len(sent) == body.length
    assert sent.index(b'name="tagging"') < sent.index(b'name="file"')
    # A name cannot end the quoted string or the header line
    assert b'filename="we%22ird%0Aname.png"' in sent


def test_a_file_that_shrinks_while_it_is_sent_fails_instead_of_hanging(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.png", images.png() + b"\0" * (2 * CHUNK_BYTES))
    body = presigned_post_body({}, path, file_content_type="image/png")
    chunks = iter(body.chunks)
    next(chunks)  # the head
    path.write_bytes(b"short")

    with pytest.raises(OSError, match="changed while it was being uploaded"):
        list(chunks)


# --- reading, editing, deleting ----------------------------------------------------------------------


def test_list_images_sends_the_filters_as_the_api_names_them(fake: FakeService, client: Client) -> None:
    fake.add_image(tags=["cat"], visibility="public")

    page = client.list_images(tag="cat", date_from="2026-11-01", date_to="2026-11-30", public=True, limit=5)

    (request,) = fake.api_requests("GET", "images")
    assert dict(request.url.params) == {
        "tag": "cat",
        "from": "2026-11-01",
        "to": "2026-11-30",
        "visibility": "public",
        "limit": "5",
    }
    assert [image.tags for image in page.items] == [("cat",)]


def test_iter_images_follows_the_cursors_to_the_last_page(fake: FakeService, client: Client) -> None:
    added = [fake.add_image()["image_id"] for _ in range(5)]

    found = [image.image_id for image in client.iter_images()]

    assert found == list(reversed(added))
    assert [request.url.params.get("cursor") for request in fake.api_requests("GET", "images")] == [
        None,
        "2",
        "4",
    ]


def test_edit_sends_only_what_changes(fake: FakeService, client: Client) -> None:
    image_id = fake.add_image(tags=["cat"], description="old")["image_id"]

    image = client.edit_image(image_id, tags=["cat", "garden"], visibility="public")

    (request,) = fake.api_requests("PATCH", f"images/{image_id}")
    assert json.loads(request.content) == {"tags": ["cat", "garden"], "visibility": "public"}
    assert (image.tags, image.visibility, image.description) == (("cat", "garden"), "public", "old")


def test_edit_with_nothing_to_change_sends_nothing(fake: FakeService, client: Client) -> None:
    with pytest.raises(ValueError, match="nothing to change"):
        client.edit_image("abc")
    assert fake.requests == []


def test_download_writes_the_bytes_as_they_arrive(fake: FakeService, client: Client) -> None:
    image_id = fake.add_image()["image_id"]
    out = io.BytesIO()
    sizes: list[int | None] = []
    received: list[int] = []

    written = client.download(image_id, out, on_start=sizes.append, on_progress=received.append)

    assert out.getvalue() == fake.uploads[image_id].data
    assert written == sum(received) == sizes[0] == len(out.getvalue())


def test_a_download_the_storage_refuses_says_so(fake: FakeService, client: Client) -> None:
    image_id = fake.add_image()["image_id"]
    expired = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    fake.overrides[f"GET {STORAGE}"] = lambda request: httpx.Response(403, text=expired)

    with pytest.raises(StorageError, match="AccessDenied Request has expired"):
        client.download(image_id, io.BytesIO())


def test_an_id_is_one_path_segment(fake: FakeService, client: Client) -> None:
    for bad in ("../images", "a/b", "x?y=1", ""):
        with pytest.raises(ConfigurationError):
            client.get_image(bad)
    assert fake.requests == []


def test_the_token_source_is_asked_before_every_call(fake: FakeService) -> None:
    asked: list[int] = []

    def token() -> str:
        asked.append(1)
        return TOKEN

    with Client(API, token, transport=fake.transport) as client:
        client.list_images()
        client.list_images()

    assert len(asked) == 2


def test_not_an_api_url_is_refused_up_front() -> None:
    with pytest.raises(ConfigurationError, match="not an API URL"):
        Client("127.0.0.1:4566/_aws/execute-api/x/local/")


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "invalid_parameter", InvalidParameter),
        (401, "unauthorized", Unauthorized),
        (403, "forbidden", Forbidden),
        (404, "not_found", NotFound),
        (409, "conflict", Conflict),
        (429, "rate_limited", RateLimited),
        (500, "internal", ServiceError),
        (503, "unavailable", ServiceError),
    ],
)
def test_error_answers_become_exceptions_by_status_with_the_service_code(
    fake: FakeService, client: Client, status: int, code: str, kind: type[ApiError]
) -> None:
    fake.overrides[f"GET {API}images"] = lambda request: error(status, code, "limit: at most 100")

    with pytest.raises(kind) as raised:
        client.list_images()

    assert (raised.value.status, raised.value.code, raised.value.message) == (
        status,
        code,
        "limit: at most 100",
    )
    assert str(raised.value) == f"limit: at most 100 ({code}, HTTP {status})"


def test_an_answer_without_the_envelope_is_still_named(fake: FakeService, client: Client) -> None:
    fake.overrides[f"GET {API}images"] = lambda request: httpx.Response(502, text="<html>Bad Gateway</html>")

    with pytest.raises(ServiceError) as raised:
        client.list_images()

    assert (raised.value.status, raised.value.code) == (502, "bad_gateway")


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "cannot reach https://api.test: "),
        (httpx.ReadTimeout("timed out"), "https://api.test did not answer in time"),
    ],
)
def test_network_failures_are_network_errors(failure: Exception, message: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    with (
        Client(API, TOKEN, transport=httpx.MockTransport(fail)) as client,
        pytest.raises(NetworkError) as raised,
    ):
        client.list_images()

    assert str(raised.value).startswith(message)
