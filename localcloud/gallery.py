"""The web gallery on the local cloud, where there is no CloudFront: a small local web server.

    python -m localcloud.gallery start     # in the background (make up does), pid in .localcloud/
    python -m localcloud.gallery stop      # make down does
    python -m localcloud.gallery url       # where it is
    python -m localcloud.gallery serve     # in the foreground

It serves the built site (``web/dist``, ``make gallery-build``), ``/config.json`` (the deployed
API's URL, from ``.localcloud/outputs.json``, read again at every request so that a redeploy
shows at once) and ``POST /dev/sign-in``, which mints a token of the local development issuer
for any user name: the local cloud's stand-in for a sign-in page. It exists only here, bound to
the loopback interface; nothing in the stacks deployed to AWS mints tokens.

Its port is the local cloud's plus 1000 (``LOCALCLOUD_PORT``, 4566 by default: 5566), so that
checkouts running their own local clouds side by side do not collide; ``GALLERY_PORT`` overrides.
The answers carry the security headers CloudFront adds in AWS (``stacks/gallery.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from localcloud.outputs import GALLERY_HOST as HOST
from localcloud.outputs import api_url, gallery_port, gallery_url, localcloud_port, stack_outputs

if TYPE_CHECKING:
    # Only serving needs PyJWT (the project's venv); start and stop run on any python3.
    from localcloud.dev_issuer import DevIssuer

ROOT: Final = Path(__file__).resolve().parent.parent
STATE: Final = ROOT / ".localcloud"
SITE: Final = ROOT / "web" / "dist"
OUTPUTS: Final = STATE / "outputs.json"
PID_FILE: Final = STATE / "gallery.pid"
LOG_FILE: Final = STATE / "gallery.log"
SIGN_IN_PATH: Final = "/dev/sign-in"
# A sign-in request is a user name in a few bytes of JSON.
MAX_SIGN_IN_BYTES: Final = 1024
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".txt": "text/plain; charset=utf-8",
}


def security_headers(api_origin: str, storage_origin: str, *other_origins: str) -> dict[str, str]:
    """The headers CloudFront's response headers policy sets in AWS, for the local origins
    (``other_origins``: a sign-in service the page calls)."""
    connect = " ".join(["'self'", api_origin, storage_origin, *other_origins])
    return {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: blob: {storage_origin}; "
            f"connect-src {connect}; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }


class GalleryServer(ThreadingHTTPServer):
    """Serves ``site``, the configuration for the API named by ``config``, and local sign-in.

    ``auth`` replaces the local sign-in with another (``web/src/config.ts``: an OpenID Connect
    issuer, as the stack configures it in AWS); then nothing here mints tokens.
    """

    daemon_threads = True

    def __init__(
        self,
        port: int,
        *,
        site: Path,
        config: Callable[[], dict[str, Any]],
        issuer: Callable[[], DevIssuer],
        token_lifetime: int | None = None,
        auth: dict[str, str] | None = None,
    ) -> None:
        self.auth = auth
        self.site = site.resolve()
        self.config = config
        self.issuer = issuer
        self.token_lifetime = token_lifetime
        super().__init__((HOST, port), _Handler)

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: GalleryServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"gallery: {self.address_string()} {format % args}\n")

    # --- requests -------------------------------------------------------------------------

    def do_GET(self) -> None:
        if not self._host_is_ours():
            return
        path = urlsplit(self.path).path
        if path == "/config.json":
            self._send_json(HTTPStatus.OK, self._config())
            return
        self._send_file(path)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        if not self._host_is_ours():
            return
        if urlsplit(self.path).path != SIGN_IN_PATH or self.server.auth is not None:
            self._send_error(HTTPStatus.NOT_FOUND, "not_found", "no such route")
            return
        self._sign_in()

    # --- the pieces --------------------------------------------------------------------------

    def _host_is_ours(self) -> bool:
        # A name resolving to 127.0.0.1 (DNS rebinding) must not reach the sign-in endpoint.
        port = self.server.server_address[1]
        if self.headers.get("Host") not in {f"{HOST}:{port}", f"localhost:{port}"}:
            self._send_error(
                HTTPStatus.MISDIRECTED_REQUEST, "wrong_host", "this server answers for its own address only"
            )
            return False
        return True

    def _config(self) -> dict[str, Any]:
        auth = self.server.auth or {"kind": "local", "sign_in_url": SIGN_IN_PATH}
        return {**self.server.config(), "auth": auth}

    def _sign_in(self) -> None:
        # Only the gallery's own page may sign in: JSON (which a cross-site form cannot send
        # without a CORS preflight this server never grants) from this origin.
        origin = self.headers.get("Origin")
        allowed = {self.server.origin, self.server.origin.replace(HOST, "localhost")}
        if origin is not None and origin not in allowed:
            self._send_error(HTTPStatus.FORBIDDEN, "forbidden", "sign-in is for the gallery's own page")
            return
        if self.headers.get_content_type() != "application/json":
            self._send_error(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "invalid_parameter", 'send JSON: {"user": NAME}'
            )
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_SIGN_IN_BYTES:
            self._send_error(
                HTTPStatus.BAD_REQUEST, "invalid_parameter", f"the body must be 1-{MAX_SIGN_IN_BYTES} bytes"
            )
            return
        try:
            body = json.loads(self.rfile.read(length))
            user = body["user"] if isinstance(body, dict) else None
        except (ValueError, KeyError):
            user = None
        if not isinstance(user, str) or not user:
            self._send_error(HTTPStatus.BAD_REQUEST, "invalid_parameter", "user must be a user name")
            return
        try:
            issuer = self.server.issuer()
            lifetime = self.server.token_lifetime
            token = issuer.token(user) if lifetime is None else issuer.token(user, expires_in=lifetime)
        except SystemExit as refusal:  # the issuer's own message: a bad name, or no key yet
            self._send_error(HTTPStatus.BAD_REQUEST, "invalid_parameter", str(refusal))
            return
        self._send_json(HTTPStatus.OK, {"token": token})

    def _send_file(self, path: str) -> None:
        site = self.server.site
        target = (site / path.lstrip("/")).resolve()
        if not target.is_relative_to(site):
            self._send_error(HTTPStatus.NOT_FOUND, "not_found", "no such file")
            return
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            if Path(path).suffix:  # a missing asset is missing; any other path is the app's
                self._send_error(HTTPStatus.NOT_FOUND, "not_found", "no such file")
                return
            target = site / "index.html"
        if not target.is_file():
            self._send_error(
                HTTPStatus.SERVICE_UNAVAILABLE, "not_built", "the site is not built: make gallery-build"
            )
            return
        data = target.read_bytes()
        # Hashed asset names may be kept; the page itself names the current ones.
        caching = "public, max-age=31536000, immutable" if "/assets/" in path else "no-cache"
        self._send(HTTPStatus.OK, data, _TYPES.get(target.suffix, "application/octet-stream"), caching)

    def _send_json(self, status: HTTPStatus, document: dict[str, Any]) -> None:
        self._send(status, json.dumps(document).encode(), "application/json", "no-store")

    def _send_error(self, status: HTTPStatus, code: str, message: str) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}})

    def _send(self, status: HTTPStatus, data: bytes, content_type: str, caching: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", caching)
        local_cloud = f"http://{HOST}:{localcloud_port()}"
        auth = self.server.auth or {}
        sign_in = [_origin(auth[name]) for name in ("issuer", "domain") if name in auth]
        for name, value in security_headers(local_cloud, local_cloud, *sign_in).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def local_config(outputs_path: Path = OUTPUTS) -> Callable[[], dict[str, Any]]:
    """The API's URL as the deployed stack's outputs name it (read at each call)."""

    def config() -> dict[str, Any]:
        return {"api_url": api_url(stack_outputs(outputs_path))}

    return config


def build_server(
    port: int,
    *,
    site: Path = SITE,
    outputs: Path = OUTPUTS,
    token_lifetime: int | None = None,
    auth: dict[str, str] | None = None,
) -> GalleryServer:
    from localcloud.dev_issuer import DEFAULT_DIRECTORY, DevIssuer

    return GalleryServer(
        port,
        site=site,
        config=local_config(outputs),
        issuer=lambda: DevIssuer.load(DEFAULT_DIRECTORY),
        token_lifetime=token_lifetime,
        auth=auth,
    )


def serve_in_thread(server: GalleryServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="gallery", daemon=True)
    thread.start()
    return thread


# --- the background process -----------------------------------------------------------------


def _recorded_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text())
        # Ours only if it is still the gallery server, not another process that got the pid.
        if b"localcloud.gallery" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    except (OSError, ValueError):
        return None
    return pid


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"{gallery_url(port)}index.html", timeout=2) as answer:
            return bool(answer.status == HTTPStatus.OK)
    except (urllib.error.URLError, OSError):
        return False


def start() -> None:
    port = gallery_port()
    if not (SITE / "index.html").is_file():
        raise SystemExit(f"gallery: {SITE} is not built: run `make gallery-build`")
    if _recorded_pid() is not None and _answers(port):
        print(f"gallery: already running on {gallery_url(port)}")
        return
    stop(quiet=True)
    STATE.mkdir(exist_ok=True)
    with LOG_FILE.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localcloud.gallery", "serve", "--port", str(port)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    PID_FILE.write_text(str(process.pid))
    deadline = time.monotonic() + 15
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gallery: the server did not start; see {LOG_FILE.relative_to(ROOT)}")
        time.sleep(0.2)
    print(f"gallery: serving on {gallery_url(port)} (pid {process.pid})")


def stop(*, quiet: bool = False) -> None:
    pid = _recorded_pid()
    PID_FILE.unlink(missing_ok=True)
    if pid is None:
        if not quiet:
            print("gallery: not running")
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    if not quiet:
        print(f"gallery: stopped (pid {pid})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.gallery", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve in the foreground")
    serve.add_argument("--port", type=int, default=None)
    commands.add_parser("start", help="serve in the background")
    commands.add_parser("stop", help="stop the background server")
    commands.add_parser("url", help="print the gallery's URL")
    arguments = parser.parse_args(argv)
    if arguments.command == "serve":
        server = build_server(arguments.port or gallery_port())
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        print(f"gallery: serving {SITE} on {gallery_url(server.server_address[1])}", flush=True)
        server.serve_forever()
    elif arguments.command == "start":
        start()
    elif arguments.command == "stop":
        stop()
    else:
        print(gallery_url())


if __name__ == "__main__":
    main()
