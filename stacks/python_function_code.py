"""Lambda code assets for this service's Python functions, built without Docker.

An asset is ``image_core/`` + one function package + that package's ``requirements.txt``
installed as Lambda wheels (manylinux, the runtime's Python, the function's architecture) by
the host's own pip, which can fetch wheels for another platform as long as they are binary.

Installing is the slow part, so the installed requirements are cached under
``.cdk-bundles/<dependencies key>``, keyed by what decides pip's result: the requirement
lines, the target Python version and architecture. A synth whose requirements did not
change copies from there and runs no pip, and a source edit does not reinstall anything.
The asset hash (which decides whether CloudFormation sees new code) covers the
dependencies key plus every source file, so it is known before bundling and stays the same
from synth to synth while nothing changed.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import py_compile
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

RUNTIME = lambda_.Runtime.PYTHON_3_13
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = PROJECT_ROOT / "lambda_src"
BUNDLE_CACHE = PROJECT_ROOT / ".cdk-bundles"
SHARED_PACKAGE = "image_core"

# Bump when the way a bundle is built changes, so that older cache entries are not reused.
# 2: bundles carry bytecode (``compile_bytecode``).
_BUNDLE_FORMAT = "2"
_PIP_ARCH = {
    lambda_.Architecture.X86_64.name: "x86_64",
    lambda_.Architecture.ARM_64.name: "aarch64",
}
_SKIPPED = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def python_version(runtime: lambda_.Runtime = RUNTIME) -> str:
    """``python3.13`` -> ``3.13``."""
    return runtime.name.removeprefix("python")


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        # Length-prefixed, so that ("ab", "c") and ("a", "bc") hash differently.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def without_dependencies(requirements: Path) -> Path:
    """``requirements-no-deps.txt`` beside ``requirements``: packages installed without their
    dependencies, when those are the Lambda runtime's (the X-Ray SDK's botocore must stay the
    runtime's, which boto3 is made for, not a second copy that shadows it)."""
    return requirements.with_name("requirements-no-deps.txt")


def _requirement_lines(requirements: Path) -> str:
    if not requirements.is_file():
        return ""
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return "\n".join(line for line in lines if line)


def dependencies_key(requirements: Path, architecture: lambda_.Architecture) -> str:
    """Names the cache entry holding ``requirements`` (and its no-deps file) installed for Lambda.

    Only the files' requirement lines count (not comments), so functions with the same
    requirements share one entry. Keep requirements pinned and without ``-r`` includes: a
    new release of an unpinned one, or a change in an included file, is not seen here.
    """
    return _sha256(
        _BUNDLE_FORMAT.encode(),
        python_version().encode(),
        _PIP_ARCH[architecture.name].encode(),
        _requirement_lines(requirements).encode(),
        _requirement_lines(without_dependencies(requirements)).encode(),
    )


def _source_files(source_root: Path, packages: Sequence[str]) -> Iterator[Path]:
    for package in packages:
        for path in sorted((source_root / package).rglob("*")):
            relative = path.relative_to(source_root)
            if (
                path.is_file()
                and not _SKIPPED.intersection(relative.parts)
                and path.suffix not in _SKIPPED_SUFFIXES
            ):
                yield path


def asset_hash(
    *, source_root: Path, packages: Sequence[str], requirements: Path, architecture: lambda_.Architecture
) -> str:
    """Changes whenever the bundle's content would: requirements, target or any source file."""
    parts = [dependencies_key(requirements, architecture).encode()]
    for path in _source_files(source_root, packages):
        parts += [path.relative_to(source_root).as_posix().encode(), path.read_bytes()]
    return _sha256(*parts)


def _copy_package(source: Path, target: Path) -> None:
    shutil.copytree(
        source,
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(*_SKIPPED, *(f"*{suffix}" for suffix in _SKIPPED_SUFFIXES)),
    )


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Bundles one function's asset on the host; CDK calls ``try_bundle`` only when it must bundle.

    CDK skips bundling (and so this class) for stacks outside the ``aws:cdk:bundling-stacks``
    context, which is how the infrastructure tests stay offline.
    """

    def __init__(
        self,
        *,
        source_root: Path,
        packages: Sequence[str],
        requirements: Path,
        architecture: lambda_.Architecture,
        cache_root: Path,
    ) -> None:
        self.source_root = source_root
        self.packages = tuple(packages)
        self.requirements = requirements
        self.architecture = architecture
        self.cache_root = cache_root

    # ``options`` is the asset's BundlingOptions; everything needed is already on self.
    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:  # noqa: ARG002
        output = Path(output_dir)
        shutil.copytree(self.installed_requirements(), output, dirs_exist_ok=True)
        for package in self.packages:
            _copy_package(self.source_root / package, output / package)
            compile_bytecode(output / package)
        # True: never fall back to Docker bundling.
        return True

    def installed_requirements(self) -> Path:
        """The cache entry for this function's requirements, installed by pip on a miss."""
        entry = self.cache_root / dependencies_key(self.requirements, self.architecture)
        if entry.is_dir():
            return entry
        # Install beside the entry and rename it into place, so that an interrupted or
        # concurrent synth never leaves a half-installed entry behind that looks complete.
        building = entry.with_name(f".{entry.name}.{os.getpid()}.building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        try:
            subprocess.run(self.pip_command(building), check=True)  # noqa: S603 (our own arguments)
            if without_dependencies(self.requirements).is_file():
                subprocess.run(self.no_deps_pip_command(building), check=True)  # noqa: S603
            compile_bytecode(building)
            building.rename(entry)
        except OSError:
            if not entry.is_dir():  # not another synth winning the race
                raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return entry

    def pip_command(self, target: Path) -> list[str]:
        arch = _PIP_ARCH[self.architecture.name]
        return [
            sys.executable, "-m", "pip", "install",
            "--quiet",
            "--disable-pip-version-check",
            # Binary wheels only: pip cannot build an sdist for another platform.
            "--only-binary=:all:",
            "--implementation", "cp",
            "--python-version", python_version(),
            "--platform", f"manylinux_2_28_{arch}",
            "--platform", f"manylinux2014_{arch}",
            # pip's bytecode is checked against the files' times, which the asset's zip does
            # not keep exactly; compile_bytecode writes bytecode that stays valid.
            "--no-compile",
            "--target", str(target),
            "-r", str(self.requirements),
        ]  # fmt: skip

    def no_deps_pip_command(self, target: Path) -> list[str]:
        """Installs ``requirements-no-deps.txt`` into ``target`` beside the rest, without dependencies."""
        command = self.pip_command(target)
        return [*command[:-2], "--no-deps", "-r", str(without_dependencies(self.requirements))]


def compile_bytecode(directory: Path) -> None:
    """Compile every module under ``directory`` for the runtime's Python, as ``__pycache__``.

    Lambda cannot write bytecode into its read-only /var/task (nor does the local cloud into
    the unzipped code), so a bundle without it compiles every module it imports, Powertools,
    Pydantic and PyJWT included, on every cold start: most of a handler's import time.
    Unchecked-hash bytecode is valid whatever times the zip gives the files (a bundle is built
    whole and never edited in place); the real file path replaces the compiled-in one at import.
    Bytecode is specific to a Python version: a synth on another one writes none.
    """
    if f"{sys.version_info.major}.{sys.version_info.minor}" != python_version():
        return
    compileall.compile_dir(
        directory,
        quiet=2,
        workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def python_code_asset(
    *,
    package: str,
    architecture: lambda_.Architecture,
    source_root: Path = LAMBDA_SRC,
    cache_root: Path = BUNDLE_CACHE,
) -> lambda_.Code:
    """The code asset of the function package ``package`` (plus ``image_core`` and its requirements)."""
    packages = (SHARED_PACKAGE, package)
    requirements = source_root / package / "requirements.txt"
    bundling = PipLocalBundling(
        source_root=source_root,
        packages=packages,
        requirements=requirements,
        architecture=architecture,
        cache_root=cache_root,
    )
    return lambda_.Code.from_asset(
        str(source_root),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(
            source_root=source_root, packages=packages, requirements=requirements, architecture=architecture
        ),
        # The cast: jsii calls try_bundle(output_dir, options) with the options as one struct,
        # while the generated ILocalBundling stub spells the struct out as keyword arguments.
        bundling=BundlingOptions(image=RUNTIME.bundling_image, local=cast(ILocalBundling, bundling)),
    )
