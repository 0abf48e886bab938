#!/usr/bin/env python3
"""The local cloud: LocalStack's open-source runtime on the host, no Docker, no account.

    python3 localcloud/cli.py install   # venvs + plugins + Node SDK, project-local, idempotent
    python3 localcloud/cli.py start     # start in the background, wait until healthy
    python3 localcloud/cli.py stop      # stop the instance this checkout started
    python3 localcloud/cli.py status
    python3 localcloud/cli.py logs [-f]
    python3 localcloud/cli.py python313 # print the Python 3.13 interpreter the project uses

Standard library only: it runs before any virtualenv exists. Everything it creates lives
under ``.localcloud/`` (git-ignored) and ``localcloud/node/node_modules``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "localcloud"
STATE = ROOT / ".localcloud"
RUNTIME_VENV = STATE / "venv"
LAMBDA_PYTHON_VENV = STATE / "lambda-python"
NODE_DIR = HERE / "node"
PID_FILE = STATE / "localstack.pid"
LOG_FILE = STATE / "localstack.log"
VOLUME_DIR = STATE / "volume"
FILESYSTEM_ROOT = STATE / "filesystem"  # LocalStack's directories in host mode (tmp, cache, libs)
# LocalStack's temporary directory where it thinks it runs in a container (as in some CI
# sandboxes): <TMPDIR>/localstack, which it empties at start. The system-wide /tmp/localstack
# would be shared by every checkout's local cloud on the machine, so starting one would delete
# the running functions' files and CloudWatch database of the others.
TMP_DIR = STATE / "tmp"

PORT = int(os.environ.get("LOCALCLOUD_PORT", "4566"))
# Set to 1 when LocalStack runs elsewhere (docker-compose.yml): start only waits for it.
EXTERNAL = os.environ.get("LOCALCLOUD_EXTERNAL", "") == "1"
HEALTH_URL = f"http://127.0.0.1:{PORT}/_localstack/health"
START_TIMEOUT_SECONDS = 120

INSTALL_HELP = """\
Python 3.13 was not found. The local cloud (LocalStack 2026.3.0) and the Lambda functions need it.
  Debian 13:        apt-get install python3.13 python3.13-venv
  Debian 12/pyenv:  pyenv install 3.13
  anywhere:         set PYTHON313=/path/to/python3.13"""


def fail(message: str) -> None:
    print(f"localcloud: {message}", file=sys.stderr)
    raise SystemExit(1)


# --- Python 3.13 ---------------------------------------------------------------------------


def _is_python313(candidate: str) -> bool:
    try:
        out = subprocess.run(
            [candidate, "-c", "import sys, venv; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "True"


def find_python313() -> str:
    """PYTHON313 if set, else python3.13 on PATH, else the newest 3.13 under pyenv."""
    candidates: list[str] = []
    if os.environ.get("PYTHON313"):
        candidates.append(os.environ["PYTHON313"])
    if on_path := shutil.which("python3.13"):
        candidates.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT")
    if not pyenv_root and shutil.which("pyenv"):
        pyenv_root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=False
        ).stdout.strip()
    for root in filter(None, [pyenv_root, str(Path.home() / ".pyenv")]):
        found = glob.glob(f"{root}/versions/3.13*/bin/python3.13")
        candidates.extend(sorted(found, key=_version_key, reverse=True))
    for candidate in candidates:
        if _is_python313(candidate):
            return candidate
    fail(INSTALL_HELP)
    raise AssertionError  # unreachable


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


# --- install ---------------------------------------------------------------------------------


def _digest(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and "__pycache__" not in file.parts and "egg-info" not in str(file):
                sha.update(str(file.relative_to(ROOT)).encode())
                sha.update(file.read_bytes())
    return sha.hexdigest()


def _up_to_date(stamp: Path, digest: str) -> bool:
    return stamp.exists() and stamp.read_text() == digest


def _venv(path: Path, python: str) -> Path:
    if not (path / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def install() -> None:
    if EXTERNAL:
        print("localcloud: LOCALCLOUD_EXTERNAL=1, using the LocalStack already running; nothing to install")
        return
    python = find_python313()
    STATE.mkdir(exist_ok=True)

    runtime_inputs = (
        HERE / "requirements.txt",
        HERE / "constraints.txt",
        HERE / "plugins" / "pyproject.toml",
    )
    stamp = STATE / "venv.stamp"
    digest = _digest(*runtime_inputs)
    if not _up_to_date(stamp, digest):
        print("localcloud: installing LocalStack 2026.3.0 and the local cloud's plugins (about a minute)")
        venv_python = _venv(RUNTIME_VENV, python)
        pip = [str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, "-r", str(HERE / "requirements.txt"), "-c", str(HERE / "constraints.txt")], check=True
        )
        # Editable: LocalStack finds the plugins through their entry points, and edits to
        # their code take effect at the next start.
        subprocess.run([*pip, "--no-deps", "-e", str(HERE / "plugins")], check=True)
        stamp.write_text(digest)

    lambda_requirements = HERE / "lambda-python-requirements.txt"
    stamp = STATE / "lambda-python.stamp"
    digest = _digest(lambda_requirements)
    if not _up_to_date(stamp, digest):
        print("localcloud: installing the Python runtime for Lambda functions (boto3, as in Lambda)")
        venv_python = _venv(LAMBDA_PYTHON_VENV, python)
        subprocess.run(
            [
                str(venv_python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(lambda_requirements),
            ],
            check=True,
        )
        stamp.write_text(digest)

    stamp = STATE / "node.stamp"
    digest = _digest(NODE_DIR / "package.json", NODE_DIR / "package-lock.json")
    if not _up_to_date(stamp, digest) or not (NODE_DIR / "node_modules").exists():
        print("localcloud: installing the AWS SDK v3 for Node.js functions (npm ci)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True)
        stamp.write_text(digest)


# --- start / stop / status ----------------------------------------------------------------


def runtime_environment() -> dict[str, str]:
    """LocalStack's settings for the local cloud (see README, 'The local cloud')."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LOCALSTACK_"))}
    env.update(
        GATEWAY_LISTEN=f"127.0.0.1:{PORT}",
        LOCALSTACK_HOST=f"127.0.0.1:{PORT}",
        LOCALSTACK_VOLUME_DIR=str(VOLUME_DIR),
        FILESYSTEM_ROOT=str(FILESYSTEM_ROOT),
        TMPDIR=str(TMP_DIR),
        # No analytics: offline, its calls hang shutdown for tens of seconds.
        DISABLE_EVENTS="1",
        # Enforce presigned URL signatures and expiry, as S3 does.
        S3_SKIP_SIGNATURE_VALIDATION="0",
        SQS_ENDPOINT_STRATEGY="path",
        PROVIDER_OVERRIDE_DYNAMODB="moto",
        LAMBDA_RUNTIME_EXECUTOR="host",
        # Async retries wait this many seconds times the attempt (60 by default).
        LAMBDA_RETRY_BASE_DELAY="1",
        LOCALCLOUD_LAMBDA_PYTHON=str(LAMBDA_PYTHON_VENV / "bin" / "python"),
        LOCALCLOUD_NODE_PATH=str(NODE_DIR / "node_modules"),
    )
    return env


def _healthy() -> bool:
    try:
        with urllib.request.urlopen(HEALTH_URL, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _port_open() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", PORT)) == 0


def _recorded_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start() -> None:
    if EXTERNAL:
        if not _healthy():
            fail(f"LOCALCLOUD_EXTERNAL=1 but nothing answers on {HEALTH_URL}: `docker compose up -d` first")
        print(f"localcloud: using the external LocalStack on http://127.0.0.1:{PORT}")
        return
    pid = _recorded_pid()
    if pid and _healthy():
        print(f"localcloud: already running (pid {pid}) on http://127.0.0.1:{PORT}")
        return
    if not pid and _port_open():
        fail(
            f"port {PORT} is held by another process, not by a local cloud this checkout started. "
            f"Stop it, or use another port with LOCALCLOUD_PORT=<port>."
        )
    if not (RUNTIME_VENV / "bin" / "python").exists():
        fail("not installed yet: run `make localcloud-install` (or `python3 localcloud/cli.py install`)")
    if pid:  # recorded but not healthy: a previous start that is stuck or still coming up
        _wait_healthy(pid)
        return
    VOLUME_DIR.mkdir(parents=True, exist_ok=True)
    TMP_DIR.mkdir(parents=True, exist_ok=True)
    with LOG_FILE.open("ab") as log:
        log.write(f"\n--- start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        log.flush()
        process = subprocess.Popen(
            [str(RUNTIME_VENV / "bin" / "python"), "-m", "localstack.runtime.main"],
            cwd=STATE,
            env=runtime_environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    PID_FILE.write_text(str(process.pid))
    print(f"localcloud: starting LocalStack (pid {process.pid}), log in {LOG_FILE.relative_to(ROOT)}")
    _wait_healthy(process.pid)


def _wait_healthy(pid: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if _healthy():
            print(f"localcloud: ready on http://127.0.0.1:{PORT}")
            return
        try:
            os.kill(pid, 0)
        except OSError:
            PID_FILE.unlink(missing_ok=True)
            fail(f"LocalStack exited during start; last lines of its log:\n{_tail(40)}")
        if "the LocalStack runtime exited unexpectedly" in _tail(40):
            stop()
            fail(f"LocalStack failed to start; last lines of its log:\n{_tail(40)}")
        time.sleep(0.5)
    fail(f"LocalStack did not become healthy within {START_TIMEOUT_SECONDS} s; see {LOG_FILE}")


def stop() -> None:
    pid = _recorded_pid()
    if pid is None:
        PID_FILE.unlink(missing_ok=True)
        print("localcloud: not running")
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    print(f"localcloud: stopped (pid {pid})")


def status() -> None:
    pid = _recorded_pid()
    if pid and _healthy():
        with urllib.request.urlopen(HEALTH_URL, timeout=2) as response:
            services = json.load(response).get("services", {})
        running = sorted(name for name, state in services.items() if state == "running")
        print(f"localcloud: running (pid {pid}) on http://127.0.0.1:{PORT}")
        print(f"  services in use: {', '.join(running) or 'none yet (they start on first use)'}")
    elif pid:
        print(f"localcloud: process {pid} exists but is not healthy; see {LOG_FILE}")
        raise SystemExit(1)
    else:
        held = " (port held by another process)" if _port_open() else ""
        print(f"localcloud: not running{held}")
        raise SystemExit(3)


def _tail(lines: int) -> str:
    if not LOG_FILE.exists():
        return ""
    return "\n".join(LOG_FILE.read_text(errors="replace").splitlines()[-lines:])


def logs(follow: bool) -> None:
    if not LOG_FILE.exists():
        fail("no log yet: the local cloud has not been started from this checkout")
    if follow:
        os.execvp("tail", ["tail", "-n", "100", "-F", str(LOG_FILE)])
    print(_tail(200))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("install", "start", "stop", "status", "python313"):
        sub.add_parser(name)
    log_parser = sub.add_parser("logs")
    log_parser.add_argument("-f", "--follow", action="store_true")
    args = parser.parse_args()
    try:
        run(args)
    except subprocess.CalledProcessError as exc:
        fail(f"`{' '.join(map(str, exc.cmd))}` failed with exit status {exc.returncode}")


def run(args: argparse.Namespace) -> None:
    match args.command:
        case "install":
            install()
        case "start":
            start()
        case "stop":
            stop()
        case "status":
            status()
        case "logs":
            logs(args.follow)
        case "python313":
            print(find_python313())


if __name__ == "__main__":
    main()
