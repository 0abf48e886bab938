"""The imgsvc command line against a fake HTTP layer: arguments, output, progress, errors, exit codes."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from imgsvc.cli import (
    EXIT_FAILED,
    EXIT_FORBIDDEN,
    EXIT_NETWORK,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Hooks,
    cli,
)
from tests import images
from tests.unit.imgsvc_fake import API, STORAGE, TOKEN, FakeService, error

Invoke = Callable[..., Result]


@pytest.fixture
def fake() -> FakeService:
    return FakeService()


@pytest.fixture
def imgsvc(fake: FakeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``imgsvc --api-url <fake> --token <token> ARGS`` in a scratch folder, as a user would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMGSVC_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("IMGSVC_API_URL", "IMGSVC_TOKEN", "IMGSVC_OUTPUTS"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, token: str | None = TOKEN, hooks: Hooks | None = None, **kwargs: object) -> Result:
        options = ["--api-url", API] + (["--token", token] if token else [])
        hooks = hooks or Hooks(transport=fake.transport, sleep=lambda seconds: None)
        return CliRunner().invoke(cli, [*options, *args], obj=hooks, **kwargs)  # type: ignore[arg-type]

    return run


def lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def assert_one_error_line(result: Result, *, code: int, says: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("imgsvc: error: ")
    assert says in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- upload ----------------------------------------------------------------------------------------


def test_upload_two_images_and_a_text_file_named_jpg(
    imgsvc: Invoke, fake: FakeService, tmp_path: Path
) -> None:
    # Given a JPEG with EXIF, a PNG, and a text file named like a photo
    (tmp_path / "photo.jpg").write_bytes(images.jpeg_rotated_with_gps())
    (tmp_path / "drawing.png").write_bytes(images.png())
    (tmp_path / "notes.jpg").write_bytes(b"this is not a photo\n")

    # When all three are uploaded with tags
    result = imgsvc("upload", "photo.jpg", "drawing.png", "notes.jpg", "--tags", "Cat, holiday")

    # Then the two images are available and the text file refused with the service's word
    rows = lines(result.stdout)
    assert [row[1:] for row in rows] == [
        ["available", "photo.jpg"],
        ["available", "drawing.png"],
        ["refused", "unsupported_format", "notes.jpg"],
    ]
    assert rows[0][0] in fake.images
    assert rows[1][0] in fake.images
    assert rows[2][0] == "-"
    # And the refused file was never announced to the service; the others carry their tags and types
    bodies = [json.loads(request.content) for request in fake.api_requests("POST", "images/upload")]
    assert bodies == [
        {"content_type": "image/jpeg", "tags": ["Cat", "holiday"]},
        {"content_type": "image/png", "tags": ["Cat", "holiday"]},
    ] or bodies == [
        {"content_type": "image/png", "tags": ["Cat", "holiday"]},
        {"content_type": "image/jpeg", "tags": ["Cat", "holiday"]},
    ]
    # And the exit status says a file was refused
    assert result.exit_code == EXIT_REFUSED


def test_upload_of_accepted_images_only_exits_zero(imgsvc: Invoke, tmp_path: Path) -> None:
    (tmp_path / "a.webp").write_bytes(images.webp(8, 8))
    (tmp_path / "b.gif").write_bytes(images.animated_gif(2, 8, 8))

    result = imgsvc("upload", "a.webp", "b.gif", "--public", "--description", "two")

    assert result.exit_code == EXIT_OK, result.output
    assert [row[1] for row in lines(result.stdout)] == ["available", "available"]


def test_a_rejected_upload_prints_its_id_and_reason(
    imgsvc: Invoke, fake: FakeService, tmp_path: Path
) -> None:
    fake.verdict = lambda data: "corrupt"
    (tmp_path / "broken.jpg").write_bytes(images.truncated(images.jpeg()))

    result = imgsvc("upload", "broken.jpg")

    ((image_id, status, reason, path),) = lines(result.stdout)
    assert (status, reason, path) == ("rejected", "corrupt", "broken.jpg")
    assert image_id in fake.images
    assert result.exit_code == EXIT_REFUSED


def test_a_folder_uploads_the_images_in_it(imgsvc: Invoke, fake: FakeService, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "2026").mkdir(parents=True)
    (folder / "a.png").write_bytes(images.png(seed=1))
    (folder / "b.jpg").write_bytes(images.jpeg(seed=2))
    (folder / "README.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(images.png(seed=3))
    (folder / "2026" / "c.png").write_bytes(images.png(seed=4))

    flat = imgsvc("upload", "photos")
    deep = imgsvc("upload", "-r", "photos")

    assert flat.exit_code == EXIT_OK, flat.output
    assert [row[-1] for row in lines(flat.stdout)] == ["photos/a.png", "photos/b.jpg"]
    assert "skipped photos/README.txt: not an image" in flat.stderr
    assert [row[-1] for row in lines(deep.stdout)] == ["photos/2026/c.png", "photos/a.png", "photos/b.jpg"]


def test_upload_json_is_one_document(imgsvc: Invoke, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(images.png())
    (tmp_path / "b.txt").write_text("text")

    result = imgsvc("upload", "a.png", "b.txt", "--json")

    document = json.loads(result.stdout)
    assert [(entry["path"], entry["status"], entry["reason"]) for entry in document] == [
        ("a.png", "available", None),
        ("b.txt", "refused", "unsupported_format"),
    ]
    assert document[0]["image"]["status"] == "available"


def test_upload_no_wait_prints_pending(imgsvc: Invoke, fake: FakeService, tmp_path: Path) -> None:
    fake.pending_polls = 10_000
    (tmp_path / "a.png").write_bytes(images.png())

    result = imgsvc("upload", "--no-wait", "a.png")

    assert result.exit_code == EXIT_OK
    assert lines(result.stdout)[0][1] == "pending"


@pytest.mark.parametrize("jobs", [1, 3])
def test_upload_sends_as_many_files_at_once_as_jobs_and_no_more(
    imgsvc: Invoke, fake: FakeService, tmp_path: Path, jobs: int
) -> None:
    # Every storage POST waits until `jobs` of them are in flight together: with fewer workers
    # the barrier breaks; the counter records the most ever in flight.
    barrier = threading.Barrier(jobs, timeout=30)
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most

    def post(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        barrier.wait()
        try:
            return fake._storage(request)
        finally:
            with lock:
                in_flight[0] -= 1

    fake.overrides[f"POST {STORAGE}"] = post
    for index in range(2 * jobs):
        (tmp_path / f"{index}.png").write_bytes(images.png(seed=index))

    result = imgsvc("upload", "--jobs", str(jobs), *(f"{index}.png" for index in range(2 * jobs)))

    assert result.exit_code == EXIT_OK, result.output
    assert in_flight[1] == jobs


def test_upload_shows_a_progress_bar_per_file_on_a_terminal(
    imgsvc: Invoke, fake: FakeService, tmp_path: Path
) -> None:
    (tmp_path / "sunset.png").write_bytes(images.png())

    result = imgsvc("upload", "sunset.png", hooks=Hooks(transport=fake.transport, progress_terminal=True))

    assert result.exit_code == EXIT_OK
    assert "sunset.png (available)" in result.stderr
    assert "KiB" in result.stderr


def test_upload_without_a_terminal_prints_no_progress(imgsvc: Invoke, tmp_path: Path) -> None:
    (tmp_path / "sunset.png").write_bytes(images.png())

    result = imgsvc("upload", "sunset.png")

    assert result.stderr == ""


def test_upload_of_a_missing_file_is_a_usage_error(imgsvc: Invoke) -> None:
    result = imgsvc("upload", "nowhere.jpg")

    assert result.exit_code == EXIT_USAGE
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


# --- ls, info, edit ------------------------------------------------------------------------------------


def test_ls_prints_a_table_with_whole_ids(imgsvc: Invoke, fake: FakeService) -> None:
    image = fake.add_image(tags=["cat", "holiday"], visibility="public", size=2048, width=640, height=480)

    result = imgsvc("ls", "--tag", "cat")

    assert result.exit_code == EXIT_OK
    header, row = lines(result.stdout)
    assert header == ["id", "created", "size", "dimensions", "tags", "visibility"]
    assert row == [
        image["image_id"],
        "2026-11-30",
        "05:00:00",
        "2.0",
        "KiB",
        "640x480",
        "cat,holiday",
        "public",
    ]
    assert dict(fake.api_requests("GET", "images")[0].url.params) == {"tag": "cat"}


def test_ls_json_is_one_document_with_the_cursor(imgsvc: Invoke, fake: FakeService) -> None:
    for _ in range(3):
        fake.add_image()

    result = imgsvc("ls", "--json", "--limit", "2")

    document = json.loads(result.stdout)
    assert len(document["items"]) == 2
    assert document["next_cursor"] == "2"


def test_ls_all_follows_the_cursors(imgsvc: Invoke, fake: FakeService) -> None:
    added = {fake.add_image()["image_id"] for _ in range(5)}

    result = imgsvc("ls", "--all", "--json")

    document = json.loads(result.stdout)
    assert {item["image_id"] for item in document["items"]} == added
    assert document["next_cursor"] is None
    assert len(fake.api_requests("GET", "images")) == 3


def test_ls_says_on_stderr_when_there_is_more(imgsvc: Invoke, fake: FakeService) -> None:
    for _ in range(3):
        fake.add_image()

    result = imgsvc("ls", "--public")

    assert result.stderr == ""  # none of them is public: one page
    result = imgsvc("ls")
    assert "more: add --cursor 2 (or --all)" in result.stderr
    assert len(lines(result.stdout)) == 3  # the header and two rows


def test_ls_with_a_parameter_the_service_refuses_is_a_usage_error(imgsvc: Invoke, fake: FakeService) -> None:
    fake.overrides[f"GET {API}images"] = lambda request: error(400, "invalid_parameter", "from: not a date")

    result = imgsvc("ls", "--from", "yesterday")

    assert_one_error_line(result, code=EXIT_USAGE, says="from: not a date (invalid_parameter, HTTP 400)")


def test_limit_out_of_range_is_refused_before_calling(imgsvc: Invoke, fake: FakeService) -> None:
    result = imgsvc("ls", "--limit", "1000")

    assert result.exit_code == EXIT_USAGE
    assert fake.requests == []


def test_info_shows_the_record(imgsvc: Invoke, fake: FakeService) -> None:
    image = fake.add_image(tags=["cat"], description="Mia")

    table = imgsvc("info", image["image_id"])
    as_json = imgsvc("info", image["image_id"], "--json")

    assert ["description", "Mia"] in lines(table.stdout)
    assert ["tags", "cat"] in lines(table.stdout)
    assert json.loads(as_json.stdout) == image


def test_info_of_an_unknown_image_is_not_found(imgsvc: Invoke) -> None:
    result = imgsvc("info", "0123456789abcdef0123456789abcdef")

    assert_one_error_line(result, code=EXIT_NOT_FOUND, says="not_found")


def test_edit_sends_the_changes_and_shows_the_result(imgsvc: Invoke, fake: FakeService) -> None:
    image_id = fake.add_image(tags=["cat"])["image_id"]

    result = imgsvc("edit", image_id, "--tags", "cat,garden", "--description", "Mia", "--public", "--json")

    assert result.exit_code == EXIT_OK, result.output
    (request,) = fake.api_requests("PATCH", f"images/{image_id}")
    assert json.loads(request.content) == {
        "tags": ["cat", "garden"],
        "description": "Mia",
        "visibility": "public",
    }
    assert json.loads(result.stdout)["visibility"] == "public"


def test_edit_with_empty_tags_removes_them_and_private_hides(imgsvc: Invoke, fake: FakeService) -> None:
    image_id = fake.add_image(tags=["cat"], visibility="public")["image_id"]

    imgsvc("edit", image_id, "--tags", "", "--private")

    (request,) = fake.api_requests("PATCH", f"images/{image_id}")
    assert json.loads(request.content) == {"tags": [], "visibility": "private"}


def test_edit_with_nothing_to_change_is_a_usage_error(imgsvc: Invoke, fake: FakeService) -> None:
    result = imgsvc("edit", "abc")

    assert result.exit_code == EXIT_USAGE
    assert "nothing to change" in result.stderr
    assert fake.requests == []


def test_editing_someone_elses_image_is_forbidden(imgsvc: Invoke, fake: FakeService) -> None:
    image_id = fake.add_image(user_id="bob", visibility="public")["image_id"]

    result = imgsvc("edit", image_id, "--tags", "mine")

    assert_one_error_line(result, code=EXIT_FORBIDDEN, says="only the owner may edit")


# --- download, rm, url -------------------------------------------------------------------------------


def test_download_into_a_folder_keeps_the_id_and_the_type(
    imgsvc: Invoke, fake: FakeService, tmp_path: Path
) -> None:
    image_id = fake.add_image(content_type="image/png")["image_id"]
    (tmp_path / "out").mkdir()

    original = imgsvc("download", image_id, "-o", "out")
    thumbnail = imgsvc("download", image_id, "-o", "out", "--variant", "thumbnail")

    assert original.exit_code == thumbnail.exit_code == EXIT_OK, original.output + thumbnail.output
    assert original.stdout.strip() == f"out/{image_id}.png"
    assert thumbnail.stdout.strip() == f"out/{image_id}-thumbnail.webp"
    assert (tmp_path / "out" / f"{image_id}.png").read_bytes() == fake.uploads[image_id].data
    assert (tmp_path / "out" / f"{image_id}-thumbnail.webp").read_bytes()[8:12] == b"WEBP"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        f"{image_id}-thumbnail.webp",
        f"{image_id}.png",
    ]


def test_download_to_a_file_name_and_to_the_current_folder(
    imgsvc: Invoke, fake: FakeService, tmp_path: Path
) -> None:
    image_id = fake.add_image(content_type="image/jpeg")["image_id"]

    named = imgsvc("download", image_id, "-o", "mine.jpeg")
    here = imgsvc("download", image_id)

    assert named.stdout.strip() == "mine.jpeg"
    assert (tmp_path / "mine.jpeg").read_bytes() == fake.uploads[image_id].data
    assert Path(here.stdout.strip()) == tmp_path / f"{image_id}.jpg"


def test_download_to_stdout(imgsvc: Invoke, fake: FakeService) -> None:
    image_id = fake.add_image()["image_id"]

    result = imgsvc("download", image_id, "-o", "-")

    assert result.stdout_bytes == fake.uploads[image_id].data


def test_a_failed_download_leaves_no_file_behind(imgsvc: Invoke, fake: FakeService, tmp_path: Path) -> None:
    image_id = fake.add_image()["image_id"]
    fake.overrides[f"GET {STORAGE}"] = lambda request: httpx.Response(
        403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    )

    result = imgsvc("download", image_id)

    assert_one_error_line(result, code=EXIT_FAILED, says="AccessDenied")
    assert [path.name for path in tmp_path.iterdir() if path.name != "config"] == []


def test_downloading_an_image_not_available_is_a_conflict(imgsvc: Invoke, fake: FakeService) -> None:
    image_id = fake.add_image(status="pending")["image_id"]

    result = imgsvc("download", image_id)

    assert_one_error_line(result, code=EXIT_FAILED, says="conflict")


def test_download_into_a_missing_folder_is_a_usage_error(imgsvc: Invoke, fake: FakeService) -> None:
    image_id = fake.add_image()["image_id"]

    result = imgsvc("download", image_id, "-o", "no/such/place.jpg")

    assert_one_error_line(result, code=EXIT_USAGE, says="no such folder: no/such")


def test_rm_goes_on_past_an_unknown_id_and_exits_with_its_status(imgsvc: Invoke, fake: FakeService) -> None:
    first, second = fake.add_image()["image_id"], fake.add_image()["image_id"]

    result = imgsvc("rm", first, "0" * 32, second)

    assert result.stdout.splitlines() == [f"deleted {first}", f"deleted {second}"]
    assert_one_error_line(result, code=EXIT_NOT_FOUND, says="0" * 32)
    assert fake.images == {}


def test_url_prints_the_api_url(imgsvc: Invoke) -> None:
    assert imgsvc("url", token=None).stdout == API + "\n"


# --- errors and help -------------------------------------------------------------------------------


def test_a_token_the_service_refuses_is_forbidden(imgsvc: Invoke) -> None:
    result = imgsvc("ls", token="expired")

    assert_one_error_line(result, code=EXIT_FORBIDDEN, says="unauthorized")


def test_no_token_at_all_says_how_to_sign_in(imgsvc: Invoke, fake: FakeService) -> None:
    result = imgsvc("ls", token=None)

    assert_one_error_line(result, code=EXIT_USAGE, says="not signed in: run `imgsvc login`")
    assert fake.requests == []


def test_a_network_failure_is_one_line_and_its_own_status(imgsvc: Invoke, tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    (tmp_path / "a.png").write_bytes(images.png())
    hooks = Hooks(transport=httpx.MockTransport(refuse))

    listing = imgsvc("ls", hooks=hooks)
    upload = imgsvc("upload", "a.png", hooks=hooks)

    assert_one_error_line(listing, code=EXIT_NETWORK, says="cannot reach https://api.test")
    assert_one_error_line(upload, code=EXIT_NETWORK, says="cannot reach https://api.test")
    assert lines(upload.stdout) == [["-", "error", "a.png"]]


def test_a_service_failure_is_exit_1(imgsvc: Invoke, fake: FakeService) -> None:
    fake.overrides[f"GET {API}images"] = lambda request: error(500, "internal", "internal error")

    assert_one_error_line(imgsvc("ls"), code=EXIT_FAILED, says="internal")


def every_command() -> list[str]:
    assert isinstance(cli, click.Group)
    return sorted(cli.commands)


@pytest.mark.parametrize("command", every_command())
def test_every_command_has_help_with_an_example(imgsvc: Invoke, command: str) -> None:
    result = imgsvc(command, "--help", token=None)

    assert result.exit_code == EXIT_OK
    assert "Example" in result.stdout
    assert f"imgsvc {command}" in result.stdout or "imgsvc --" in result.stdout


def test_the_main_help_lists_the_exit_statuses(imgsvc: Invoke) -> None:
    result = imgsvc("--help", token=None)

    for code in range(7):
        assert f"\n    {code}  " in result.stdout


def test_a_parameter_refused_for_every_file_is_said_once(
    imgsvc: Invoke, fake: FakeService, tmp_path: Path
) -> None:
    fake.overrides[f"POST {API}images/upload"] = lambda request: error(
        400, "invalid_parameter", "tags: 'a b' is not a tag"
    )
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(images.png())

    result = imgsvc("upload", "--tags", "a b", "a.png", "b.png", "c.png")

    assert_one_error_line(result, code=EXIT_USAGE, says="tags: 'a b' is not a tag")
    assert [row[:2] for row in lines(result.stdout)] == [["-", "error"]] * 3


def test_a_file_name_that_is_no_utf8_still_uploads(imgsvc: Invoke, fake: FakeService, tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes in a name, as old archives have them
    (tmp_path / name).write_bytes(images.png())

    result = imgsvc("upload", name)

    assert result.exit_code == EXIT_OK, result.output
    (upload,) = fake.uploads.values()
    assert upload.data == images.png()
