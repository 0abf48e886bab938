"""`make hotswap`: after a change to lambda_src/, put the new code into the deployed functions.

    python -m localcloud.hotswap ImageService-local

A full deploy synthesizes the app (CDK, cdk-nag), bundles and runs CloudFormation: about a
minute for a one-line change. Code is all that changed, so this rebuilds each function
package's bundle from the one the last deploy built (``cdk.out/asset.*``: its installed
requirements) with the current source of the package and ``image_core`` (compiled, as
``stacks/python_function_code.py`` does), and calls UpdateFunctionCode for every function of
the stack whose deployed source differs from it: the source of the last deploy's bundle, or,
if this updated the function since (``STATE``, while its CodeSha256 is still the one this
gave it), the source it last sent. A change to a package's requirements needs
the real thing (``make up``), and this says so. The stack's template is not touched:
anything but code (environment, routes, permissions) needs ``make up`` too.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import py_compile
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = ROOT / "lambda_src"
CDK_OUT = ROOT / "cdk.out"
SHARED_PACKAGE = "image_core"
FUNCTION_PACKAGES = ("image_api", "image_processing", "image_reconcile")
# Every entry gets the same time, so that the same files give the same zip (and CodeSha256).
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
# Function name -> [CodeSha256 this gave it, hash of the source it held].
STATE = ROOT / ".localcloud" / "hotswap.json"
UPDATE_TIMEOUT_SECONDS = 120
# The installed requirements of each deployed bundle, zipped once (cdk.out's asset names are hashes).
ZIP_CACHE = ROOT / ".localcloud" / "hotswap-zips"


class NeedsDeployError(Exception):
    """The change is more than code: only a deploy can apply it."""


def deployed_bundle(package: str, stack: str, cdk_out: Path = CDK_OUT) -> Path:
    """The bundle of ``package`` in the last synth of ``stack``: the asset its template's functions name."""
    template_path = cdk_out / f"{stack}.template.json"
    if not template_path.exists():
        raise NeedsDeployError(f"no synthesized template of {stack} in {cdk_out}")
    resources = json.loads(template_path.read_text()).get("Resources", {})
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Lambda::Function" and str(properties.get("Handler", "")).startswith(
            f"{package}."
        ):
            key = properties.get("Code", {}).get("S3Key", "")
            bundle = cdk_out / f"asset.{key.removesuffix('.zip')}"
            if bundle.is_dir():
                return bundle
    raise NeedsDeployError(f"no bundle of {package} in the last synth of {stack}")


def _files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            yield path


def source_hash(root: Path, packages: tuple[str, ...]) -> str:
    """What decides a function's behaviour in a bundle or a source tree: its packages' files."""
    digest = hashlib.sha256()
    for package in packages:
        for path in _files(root / package):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def bundle_zip(
    package: str,
    stack: str,
    *,
    source_root: Path = LAMBDA_SRC,
    cdk_out: Path = CDK_OUT,
    zip_cache: Path = ZIP_CACHE,
) -> bytes:
    """The zip of ``package``'s bundle: the deployed bundle's requirements, the current source."""
    bundle = deployed_bundle(package, stack, cdk_out)
    own = (SHARED_PACKAGE, package)
    for name in ("requirements.txt", "requirements-no-deps.txt"):
        current, bundled = source_root / package / name, bundle / package / name
        if (current.read_bytes() if current.exists() else b"") != (
            bundled.read_bytes() if bundled.exists() else b""
        ):
            raise NeedsDeployError(f"{package}/{name} changed since the last deploy")
    out = io.BytesIO(_requirements_zip(bundle, own, zip_cache))
    with zipfile.ZipFile(out, "a") as archive, tempfile.TemporaryDirectory() as scratch:
        for package_name in own:
            for path in _files(source_root / package_name):
                relative = path.relative_to(source_root)
                _add(archive, relative.as_posix(), path.read_bytes())
                if path.suffix == ".py":
                    compiled = Path(scratch) / "module.pyc"
                    py_compile.compile(
                        str(path),
                        cfile=str(compiled),
                        dfile=relative.as_posix(),
                        doraise=True,
                        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                    )
                    cached = (
                        relative.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.pyc"
                    )
                    _add(archive, cached.as_posix(), compiled.read_bytes())
    return out.getvalue()


def _requirements_zip(bundle: Path, own: tuple[str, ...], zip_cache: Path) -> bytes:
    """Everything of ``bundle`` but ``own`` packages, zipped once per bundle (tens of MB: seconds)."""
    cached = zip_cache / f"{bundle.name}.{'+'.join(own)}.zip"
    if cached.exists():
        return cached.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(bundle.rglob("*")):
            relative = path.relative_to(bundle)
            if path.is_file() and relative.parts[0] not in own:
                _add(archive, relative.as_posix(), path.read_bytes())
    zip_cache.mkdir(parents=True, exist_ok=True)
    building = cached.with_name(f".{cached.name}.{os.getpid()}")
    building.write_bytes(out.getvalue())
    building.replace(cached)
    return out.getvalue()


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def code_sha256(data: bytes) -> str:
    """As Lambda reports ``CodeSha256``: base64 of the SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def stack_functions(stack: str) -> dict[str, tuple[str, str]]:
    """Function name -> (handler, CodeSha256) of the stack's functions."""
    client = boto3.client("lambda")
    found = {}
    for page in client.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            if function["FunctionName"].startswith(f"{stack}-") and "Handler" in function:
                found[function["FunctionName"]] = (function["Handler"], function["CodeSha256"])
    return found


def hotswap(stack: str) -> list[str]:
    """Update every function of ``stack`` whose deployed source differs from the current one; their names."""
    client = boto3.client("lambda")
    functions = stack_functions(stack)
    if not functions:
        raise NeedsDeployError(f"no function of {stack} is deployed")
    state: dict[str, list[str]] = json.loads(STATE.read_text()) if STATE.exists() else {}
    updates: list[tuple[str, bytes, str]] = []
    for package in FUNCTION_PACKAGES:
        users = {name: sha for name, (handler, sha) in functions.items() if handler.startswith(f"{package}.")}
        if not users:
            continue
        packages = (SHARED_PACKAGE, package)
        current = source_hash(LAMBDA_SRC, packages)
        deployed_by_cdk = source_hash(deployed_bundle(package, stack), packages)
        stale = [
            name
            for name, sha in users.items()
            # Still what this sent it: compare with that; otherwise a deploy came since.
            if (state[name][1] if name in state and state[name][0] == sha else deployed_by_cdk) != current
        ]
        if stale:
            data = bundle_zip(package, stack)
            updates += [(name, data, current) for name in stale]

    def update(item: tuple[str, bytes, str]) -> str:
        name, data, _ = item
        client.update_function_code(FunctionName=name, ZipFile=data)
        # Polled more often than botocore's waiter (at least a second between polls) would.
        deadline = time.monotonic() + UPDATE_TIMEOUT_SECONDS
        while (
            status := client.get_function_configuration(FunctionName=name).get("LastUpdateStatus")
        ) != "Successful":
            if status == "Failed" or time.monotonic() > deadline:
                raise NeedsDeployError(f"updating {name} ended {status}")
            time.sleep(0.2)
        return name

    with ThreadPoolExecutor(max_workers=4) as pool:
        updated = list(pool.map(update, updates))
    for name, data, source in updates:
        state[name] = [code_sha256(data), source]
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=1) + "\n")
    return updated


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stack")
    parser.add_argument("--quiet", action="store_true", help="say nothing when nothing was updated")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        updated = hotswap(args.stack)
    except NeedsDeployError as reason:
        raise SystemExit(f"hotswap: {reason}: run make up") from None
    elapsed = time.monotonic() - started
    if updated:
        print(
            f"hotswap: updated {len(updated)} function(s) in {elapsed:.1f} s: " + ", ".join(sorted(updated))
        )
    elif not args.quiet:
        print(f"hotswap: every function already runs the current code ({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
