"""``imgsvc``: the image service from the command line.

Every command prints what a person wants to read on stdout (tables, one line per file, or
``--json`` for scripts), progress bars on stderr (only on a terminal), and any error as one
line on stderr, ``imgsvc: error: ...``, with an exit status that says what kind it was
(``EXIT_STATUS`` below, which ``imgsvc --help`` shows).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from imgsvc import sniff
from imgsvc.client import DEFAULT_WAIT_SECONDS, Client
from imgsvc.config import Target, dev_token, resolve_target
from imgsvc.errors import (
    ConfigurationError,
    Forbidden,
    ImgsvcError,
    InvalidParameter,
    NetworkError,
    NotFound,
    Unauthorized,
    UploadRefused,
)
from imgsvc.login import CachedLogin, CredentialStore, LoginFailed, sign_in
from imgsvc.models import Image, Variant

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_FORBIDDEN = 4
EXIT_REFUSED = 5
EXIT_NETWORK = 6

EXIT_STATUS = """\b
Exit status:
  0  done
  1  the service failed or refused otherwise (409 conflict, 429, 5xx), or processing timed out
  2  usage: wrong arguments or configuration, or a parameter the service refused (400)
  3  not found (404): no such image, or none you may see
  4  forbidden: not signed in, a token the service refused (401), not yours (403), login refused
  5  an upload refused: by imgsvc from the file's bytes, by the storage, or rejected by the service
  6  network: the API, the storage or Cognito could not be reached or did not answer in time
Errors are one line on stderr: imgsvc: error: ...
"""


def exit_code_of(error: BaseException) -> int:
    """The documented exit status for an error (see the module's docstring)."""
    match error:
        case ConfigurationError() | InvalidParameter() | click.UsageError():
            return EXIT_USAGE
        case NotFound():
            return EXIT_NOT_FOUND
        case Unauthorized() | Forbidden() | LoginFailed():
            return EXIT_FORBIDDEN
        case UploadRefused():
            return EXIT_REFUSED
        case NetworkError():
            return EXIT_NETWORK
        case _:
            return EXIT_FAILED


def say_error(message: str) -> None:
    click.echo(f"imgsvc: error: {printable(message)}", err=True)


def printable(text: str | Path) -> str:
    """Text that can be printed: a file name that is no valid UTF-8 (possible on Linux) shows '?'."""
    return str(text).encode("utf-8", "replace").decode()


@dataclass(frozen=True)
class Hooks:
    """What the commands take from the world, replaceable in tests (``obj=Hooks(...)``)."""

    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    # Token expiry is wall-clock time.
    clock: Callable[[], float] = time.time
    # Progress bars show on a terminal only; None asks stderr whether it is one.
    progress_terminal: bool | None = None


@dataclass
class State:
    """The global options, and the client built from them when a command first needs it."""

    api_url: str | None
    token: str | None
    outputs: Path | None
    hooks: Hooks
    _target: Target | None = field(default=None, init=False)
    _client: Client | None = field(default=None, init=False)

    def target(self) -> Target:
        if self._target is None:
            self._target = resolve_target(self.api_url, self.outputs)
        return self._target

    def client(self) -> Client:
        if self._client is None:
            target = self.target()
            self._client = Client(
                target.api_url,
                self._token_source(target),
                transport=self.hooks.transport,
                sleep=self.hooks.sleep,
                clock=self.hooks.monotonic,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _token_source(self, target: Target) -> str | CachedLogin:
        if self.token:
            return self.token
        store = CredentialStore()
        if (session := store.get(target.api_url)) is not None:
            return CachedLogin(store, session, clock=self.hooks.clock)
        if target.is_local:
            raise ConfigurationError(
                "no token: on the local cloud, export IMGSVC_TOKEN=$(imgsvc token --user NAME) "
                "or pass --token"
            )
        raise ConfigurationError("not signed in: run `imgsvc login`, or pass --token / set IMGSVC_TOKEN")


class ImgsvcGroup(click.Group):
    """Turns the client's errors into one line on stderr and the documented exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImgsvcError as error:
            say_error(str(error))
            ctx.exit(exit_code_of(error))
        except OSError as error:  # a file that cannot be read or written
            say_error(f"{error.filename or ''}{': ' if error.filename else ''}{error.strerror or error}")
            ctx.exit(EXIT_FAILED)
        finally:
            if isinstance(ctx.obj, State):
                ctx.obj.close()


def state_of(ctx: click.Context) -> State:
    state = ctx.find_object(State)
    assert state is not None, "the imgsvc group sets it"
    return state


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=ImgsvcGroup, context_settings=CONTEXT, epilog=EXIT_STATUS)
@click.option(
    "--api-url",
    envvar="IMGSVC_API_URL",
    metavar="URL",
    help="The API's base URL [IMGSVC_API_URL; default: the local cloud's, from `make up`].",
)
@click.option(
    "--token",
    envvar="IMGSVC_TOKEN",
    metavar="TOKEN",
    help="A bearer token [IMGSVC_TOKEN; default: the cached `imgsvc login`].",
)
@click.option(
    "--outputs",
    envvar="IMGSVC_OUTPUTS",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A stack outputs file (cdk deploy --outputs-file) to read the API URL and user pool from.",
)
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, token: str | None, outputs: Path | None) -> None:
    """The image service: upload, list, edit, download and delete your images.

    \b
    Example, on the local cloud after `make up`:
      export IMGSVC_TOKEN=$(imgsvc token --user alice)
      imgsvc upload --tags cat,holiday photos/
      imgsvc ls --tag cat
      imgsvc download 3f2a... -o ~/Downloads/
    """
    hooks = ctx.obj if isinstance(ctx.obj, Hooks) else Hooks()
    ctx.obj = State(api_url=api_url, token=token, outputs=outputs, hooks=hooks)


# --- upload ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one file of an upload."""

    path: Path
    status: str  # available, pending, rejected, failed, refused, error
    image_id: str | None = None
    reason: str | None = None
    error: ImgsvcError | None = None
    image: Image | None = None

    @property
    def exit_code(self) -> int:
        if self.status in ("available", "pending"):
            return EXIT_OK
        return exit_code_of(self.error) if self.error is not None else EXIT_REFUSED

    def as_json(self) -> dict[str, Any]:
        return {
            "path": printable(self.path),
            "image_id": self.image_id,
            "status": self.status,
            "reason": self.reason,
            "error": str(self.error) if self.status == "error" and self.error else None,
            "image": self.image.data if self.image else None,
        }


def expand_paths(paths: Sequence[Path], *, recursive: bool) -> tuple[list[Path], list[Path]]:
    """The files to upload: files as given, a folder's images; and the folders' other files, skipped."""
    files: list[Path] = []
    skipped: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(path.rglob("*") if recursive else path.iterdir())
        for candidate in found:
            hidden = any(part.startswith(".") for part in candidate.relative_to(path).parts)
            if hidden or not candidate.is_file():
                continue
            try:
                is_image = sniff.content_type_of_file(candidate) is not None
            except OSError:
                is_image = False
            (files if is_image else skipped).append(candidate)
    return files, skipped


def parse_tags(value: str | None) -> list[str] | None:
    """``a, b,c`` as ["a", "b", "c"]; "" as [] (no tags); None as None (not given)."""
    if value is None:
        return None
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def progress_bars(hooks: Hooks) -> Progress:
    stderr = Console(stderr=True, force_terminal=hooks.progress_terminal)
    return Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        # Bars for people at a terminal; scripts and logs get the result lines only.
        disable=not stderr.is_terminal,
        transient=False,
    )


@cli.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tags", metavar="A,B", help="Comma-separated tags (lower-cased by the service).")
@click.option("--description", metavar="TEXT", help="A description (at most 1000 characters).")
@click.option(
    "--public", is_flag=True, help="Visible to every signed-in user once available (default: private)."
)
@click.option("--no-wait", is_flag=True, help="Do not wait for processing: print the ids as pending.")
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 32), default=4, show_default=True, help="Files uploaded at once."
)
@click.option("-r", "--recursive", is_flag=True, help="Take the images in a folder's subfolders too.")
@click.option(
    "--wait-seconds",
    type=click.FloatRange(min=1),
    default=DEFAULT_WAIT_SECONDS,
    show_default=True,
    help="How long to wait for each file's processing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (a list, one entry per file).")
@click.pass_context
def upload(
    ctx: click.Context,
    paths: tuple[Path, ...],
    tags: str | None,
    description: str | None,
    public: bool,
    no_wait: bool,
    jobs: int,
    recursive: bool,
    wait_seconds: float,
    as_json: bool,
) -> None:
    """Upload images (files, or the images in folders), and wait until each is processed.

    The type of each file is told from its bytes, never its name: a file that is no JPEG,
    PNG, GIF, WebP or HEIF image is refused here (unsupported_format) and the others go on.
    Prints one line per file: its id and `available`, or `rejected` with the service's reason.
    Exits 5 if any file was refused or rejected.

    \b
    Examples:
      imgsvc upload cat.jpg dog.png --tags pets,holiday --public
      imgsvc upload -j 8 ~/Pictures/2026/          # every image in the folder
    """
    client = state_of(ctx).client()
    files, skipped = expand_paths(paths, recursive=recursive)
    for path in skipped:
        click.echo(f"imgsvc: skipped {printable(path)}: not an image", err=True)
    if not files:
        raise ConfigurationError("no images to upload")
    tag_list = parse_tags(tags)
    visibility = "public" if public else None

    with progress_bars(state_of(ctx).hooks) as progress:

        def upload_one(path: Path) -> Outcome:
            task: TaskID | None = None
            label = printable(path.name)

            def started(size: int) -> None:
                nonlocal task
                task = progress.add_task(label, total=size)

            def sending(count: int) -> None:
                if task is not None:
                    progress.advance(task, count)

            def sent() -> None:
                if task is not None and not no_wait:
                    progress.update(task, description=f"{label} (processing)")

            try:
                image = client.upload(
                    path,
                    tags=tag_list,
                    description=description,
                    visibility=visibility,
                    wait=not no_wait,
                    wait_seconds=wait_seconds,
                    on_start=started,
                    on_progress=sending,
                    on_sent=sent,
                )
            except UploadRefused as refused:
                if task is not None:
                    progress.update(task, description=f"{label} ({refused.status})")
                return Outcome(path, refused.status, refused.image_id, refused.reason, refused)
            except ImgsvcError as error:
                return Outcome(path, "error", getattr(error, "image_id", None), None, error)
            except OSError as error:  # the file changed or vanished while it was being sent
                failed = ImgsvcError(f"{path}: {error.strerror or error}")
                return Outcome(path, "error", None, None, failed)
            if task is not None:
                progress.update(task, description=f"{label} ({image.status})")
            return Outcome(path, image.status, image.image_id, None, None, image)

        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            outcomes = list(pool.map(upload_one, files))
        except KeyboardInterrupt:
            # Start nothing more; the few files in flight finish (their records are the
            # service's to clean up if they do not).
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    # A refused parameter, a refused token or an unreachable API fails every file the same way:
    # said once.
    for message in dict.fromkeys(str(outcome.error) for outcome in outcomes if outcome.status == "error"):
        say_error(message)
    if as_json:
        click.echo(json.dumps([outcome.as_json() for outcome in outcomes], indent=2))
    else:
        for outcome in outcomes:
            reason = f"  {outcome.reason}" if outcome.reason else ""
            click.echo(f"{outcome.image_id or '-'}  {outcome.status}{reason}  {printable(outcome.path)}")
    ctx.exit(next((outcome.exit_code for outcome in outcomes if outcome.exit_code), EXIT_OK))


# --- ls and info --------------------------------------------------------------------------------------


def stdout_console() -> Console:
    # Piped into a file or another program, a table keeps whole ids rather than folding to 80 columns.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def dimensions(image: Image) -> str:
    if image.width is None or image.height is None:
        return ""
    frames = f" ({image.frames} frames)" if image.frames and image.frames > 1 else ""
    return f"{image.width}x{image.height}{frames}"


def images_table(images: Iterable[Image]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("dimensions", no_wrap=True)
    table.add_column("tags")
    table.add_column("visibility", no_wrap=True)
    for image in images:
        created = image.created_at.replace("T", " ")[:19]
        table.add_row(
            image.image_id,
            created,
            human_size(image.size),
            dimensions(image),
            ",".join(image.tags),
            image.visibility,
        )
    return table


@cli.command(name="ls", context_settings=CONTEXT)
@click.option("--tag", metavar="TAG", help="Only images with this tag.")
@click.option(
    "--from", "date_from", metavar="DATE", help="Created on or after (a date, or a datetime with offset)."
)
@click.option(
    "--to", "date_to", metavar="DATE", help="Created on or before (a date covers its whole UTC day)."
)
@click.option("--public", is_flag=True, help="Everyone's public images instead of your own.")
@click.option("--limit", type=click.IntRange(1, 100), help="Images per page (the service's default: 20).")
@click.option("--all", "every_page", is_flag=True, help="Follow the cursors: every matching image.")
@click.option("--cursor", metavar="CURSOR", help="Continue where a listing stopped (its next_cursor).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document: {items, next_cursor}.")
@click.pass_context
def list_images(
    ctx: click.Context,
    tag: str | None,
    date_from: str | None,
    date_to: str | None,
    public: bool,
    limit: int | None,
    every_page: bool,
    cursor: str | None,
    as_json: bool,
) -> None:
    """List your available images (or everyone's public ones), newest first.

    \b
    Examples:
      imgsvc ls --tag cat --from 2026-11-01 --to 2026-11-30
      imgsvc ls --public --all --json | jq -r '.items[].image_id'
    """
    client = state_of(ctx).client()
    next_cursor: str | None
    if every_page:
        images = list(
            client.iter_images(tag=tag, date_from=date_from, date_to=date_to, public=public, page_size=limit)
        )
        next_cursor = None
    else:
        page = client.list_images(
            tag=tag, date_from=date_from, date_to=date_to, public=public, limit=limit, cursor=cursor
        )
        images, next_cursor = list(page.items), page.next_cursor
    if as_json:
        click.echo(
            json.dumps({"items": [image.data for image in images], "next_cursor": next_cursor}, indent=2)
        )
        return
    stdout_console().print(images_table(images))
    if next_cursor:
        click.echo(f"more: add --cursor {next_cursor} (or --all)", err=True)


INFO_FIELDS = (
    "image_id",
    "status",
    "reason",
    "user_id",
    "created_at",
    "visibility",
    "tags",
    "description",
    "content_type",
    "format",
    "size",
    "width",
    "height",
    "frames",
    "exif_orientation",
    "sha256",
    "duplicate_of",
)


def show_image(image: Image, *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(image.data, indent=2))
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in INFO_FIELDS:
        value = image.data.get(name)
        if value is None or (name == "reason" and not value):
            continue
        table.add_row(name, ",".join(value) if isinstance(value, list) else str(value))
    stdout_console().print(table)


@cli.command(context_settings=CONTEXT)
@click.argument("image_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@click.pass_context
def info(ctx: click.Context, image_id: str, as_json: bool) -> None:
    """Show one image: its status, tags, description and the facts found in its bytes.

    \b
    Example:
      imgsvc info 3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7 --json
    """
    show_image(state_of(ctx).client().get_image(image_id), as_json=as_json)


@cli.command(context_settings=CONTEXT)
@click.argument("image_id", metavar="ID")
@click.option("--tags", metavar="A,B", help='The new tags, replacing the old ones ("" removes them all).')
@click.option("--description", metavar="TEXT", help="The new description.")
@click.option("--public", "visibility", flag_value="public", help="Make it visible to every signed-in user.")
@click.option("--private", "visibility", flag_value="private", help="Make it visible to you only.")
@click.option("--json", "as_json", is_flag=True, help="Print the updated record as JSON.")
@click.pass_context
def edit(
    ctx: click.Context,
    image_id: str,
    tags: str | None,
    description: str | None,
    visibility: str | None,
    as_json: bool,
) -> None:
    """Change an image's tags, description or visibility (yours only).

    \b
    Examples:
      imgsvc edit 3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7 --tags cat,garden --public
      imgsvc edit 3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7 --description "Mia in the sun" --private
    """
    if tags is None and description is None and visibility is None:
        raise click.UsageError("nothing to change: give --tags, --description, --public or --private")
    image = (
        state_of(ctx)
        .client()
        .edit_image(image_id, tags=parse_tags(tags), description=description, visibility=visibility)
    )
    show_image(image, as_json=as_json)


# --- download, rm, url ------------------------------------------------------------------------------


def file_name_for(image: Image, variant: Variant) -> str:
    """``<id>.<ext>`` for the original (its type's extension), ``<id>-<variant>.webp`` for a variant."""
    if variant is Variant.ORIGINAL:
        return image.image_id + sniff.EXTENSIONS.get(image.content_type, "")
    # The service makes every variant a WebP.
    return f"{image.image_id}-{variant.value}.webp"


@cli.command(context_settings=CONTEXT)
@click.argument("image_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="A file, or a folder to put it in under its own name (default: the current folder); - for stdout.",
)
@click.option(
    "--variant",
    type=click.Choice([variant.value for variant in Variant]),
    default="original",
    show_default=True,
    help="The original as uploaded, or a WebP preview (1280 px) or thumbnail (256 px).",
)
@click.pass_context
def download(ctx: click.Context, image_id: str, output: Path | None, variant: str) -> None:
    """Download an image (the original, or a variant) and print where it went.

    In a folder the file is named after the image: <id>.jpg (the original's own type)
    or <id>-thumbnail.webp.

    \b
    Examples:
      imgsvc download 3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7 -o ~/Downloads/
      imgsvc download 3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7 --variant thumbnail -o thumb.webp
    """
    state = state_of(ctx)
    client = state.client()
    chosen = Variant(variant)
    if output is not None and str(output) == "-":
        client.download(image_id, sys.stdout.buffer, variant=chosen)
        sys.stdout.buffer.flush()
        return
    image = client.get_image(image_id)
    name = file_name_for(image, chosen)
    if output is None:
        destination = Path.cwd() / name
    elif output.is_dir() or str(output).endswith(os.sep):
        destination = output / name
    else:
        destination = output
    if not destination.parent.is_dir():
        raise ConfigurationError(f"no such folder: {destination.parent}")
    # Written beside its destination under another name, renamed once whole: an interrupted
    # download leaves no partial file where the image should be.
    partial = destination.with_name(f".{destination.name}.part")
    try:
        with progress_bars(state.hooks) as progress, partial.open("wb") as out:
            task: TaskID | None = None

            def started(size: int | None) -> None:
                nonlocal task
                task = progress.add_task(printable(destination.name), total=size)

            def received(count: int) -> None:
                if task is not None:
                    progress.advance(task, count)

            client.download(image_id, out, variant=chosen, on_start=started, on_progress=received)
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    click.echo(printable(destination))


@cli.command(context_settings=CONTEXT)
@click.argument("image_ids", nargs=-1, required=True, metavar="ID...")
@click.pass_context
def rm(ctx: click.Context, image_ids: tuple[str, ...]) -> None:
    """Delete images (yours only): the record, the original and every variant.

    Goes on past an id it cannot delete, and then exits with that failure's status.

    \b
    Example:
      imgsvc rm 3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7 81bc07d4e2a94f0c9d3e5a6b7c8d9e0f
    """
    client = state_of(ctx).client()
    status = EXIT_OK
    for image_id in image_ids:
        try:
            client.delete_image(image_id)
        except ImgsvcError as error:
            say_error(f"{image_id}: {error}")
            status = status or exit_code_of(error)
            if isinstance(error, NetworkError | Unauthorized):
                break  # the next ones would fail the same way
            continue
        click.echo(f"deleted {image_id}")
    ctx.exit(status)


@cli.command(context_settings=CONTEXT)
@click.pass_context
def url(ctx: click.Context) -> None:
    """Print the API's base URL (as configured, or the local cloud's).

    \b
    Example:
      curl -H "Authorization: Bearer $IMGSVC_TOKEN" "$(imgsvc url)images"
    """
    click.echo(state_of(ctx).target().api_url)


# --- signing in ----------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.option("--user", required=True, metavar="NAME", help="Who the token says the caller is.")
@click.option(
    "--expires-in",
    type=click.IntRange(60, 86400),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="The token's lifetime.",
)
@click.pass_context
def token(ctx: click.Context, user: str, expires_in: int) -> None:
    """Print a token of the local cloud's development issuer (the local cloud only).

    \b
    Example:
      export IMGSVC_TOKEN=$(imgsvc token --user alice)
    """
    click.echo(dev_token(state_of(ctx).target(), user, expires_in=expires_in))


@cli.command(context_settings=CONTEXT)
@click.option("--username", prompt=True, help="Your user name in the stack's user pool.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of asking for it.")
@click.option(
    "--client-id",
    envvar="IMGSVC_COGNITO_CLIENT_ID",
    metavar="ID",
    help="The user pool app client [IMGSVC_COGNITO_CLIENT_ID; default: the outputs' UserPoolClientId].",
)
@click.option(
    "--region",
    envvar="IMGSVC_COGNITO_REGION",
    metavar="REGION",
    help="The user pool's region [IMGSVC_COGNITO_REGION; default: the outputs' Region].",
)
@click.pass_context
def login(
    ctx: click.Context, username: str, password_stdin: bool, client_id: str | None, region: str | None
) -> None:
    """Sign in to the stack's Cognito user pool and cache the tokens for later commands.

    The tokens are kept in your configuration folder (~/.config/imgsvc, readable by you only)
    and refreshed with the refresh token when they expire. The local cloud has no user pool:
    use `imgsvc token --user NAME` there.

    \b
    Examples:
      imgsvc --outputs outputs-dev.json login --username alice
      imgsvc --api-url https://abc.execute-api.eu-west-1.amazonaws.com/dev/ login \\
             --client-id 1example23456789 --region eu-west-1 --username alice
    """
    state = state_of(ctx)
    target = state.target()
    client_id = client_id or target.outputs.get("UserPoolClientId")
    region = region or target.outputs.get("Region")
    if not client_id or not region:
        if target.is_local:
            raise ConfigurationError("the local cloud has no user pool: use `imgsvc token --user NAME`")
        raise ConfigurationError(
            "which user pool? pass --client-id and --region (or --outputs with the stack's outputs)"
        )
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True)
    if not password:
        raise ConfigurationError("no password given")
    session = sign_in(
        api_url=target.api_url,
        region=region,
        client_id=client_id,
        username=username,
        password=password,
        clock=state.hooks.clock,
    )
    store = CredentialStore()
    store.put(session)
    click.echo(f"signed in as {username} (tokens cached in {store.path})", err=True)


@cli.command(context_settings=CONTEXT)
@click.pass_context
def logout(ctx: click.Context) -> None:
    """Forget the cached sign-in for this API.

    \b
    Example:
      imgsvc logout
    """
    target = state_of(ctx).target()
    removed = CredentialStore().remove(target.api_url)
    click.echo("signed out" if removed else "was not signed in", err=True)


def main() -> None:
    """The console script: ``imgsvc``."""
    cli.main(prog_name="imgsvc")
