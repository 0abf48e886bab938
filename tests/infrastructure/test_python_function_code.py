"""The Lambda bundler, without pip or network: pip is replaced wherever it would run."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import BundlingOptions, DockerImage
from aws_cdk import aws_lambda as lambda_

from stacks.python_function_code import PipLocalBundling, asset_hash, dependencies_key

from .conftest import synth_stack

X86 = lambda_.Architecture.X86_64
ARM = lambda_.Architecture.ARM_64
OPTIONS = BundlingOptions(image=DockerImage.from_registry("unused"))


@pytest.fixture
def source_root(tmp_path: Path) -> Path:
    root = tmp_path / "lambda_src"
    for relative, text in {
        "image_core/__init__.py": "",
        "image_core/schema.py": "PARTITION_KEY = 'pk'\n",
        "image_api/__init__.py": "",
        "image_api/upload.py": "def handler(event, context): ...\n",
        "image_api/requirements.txt": "pydantic==2.14.4\n",
        "image_api/__pycache__/upload.cpython-313.pyc": "bytecode",
        "image_processing/handler.py": "def handler(event, context): ...\n",
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def _hash(source_root: Path, architecture: lambda_.Architecture = X86) -> str:
    return asset_hash(
        source_root=source_root,
        packages=("image_core", "image_api"),
        requirements=source_root / "image_api" / "requirements.txt",
        architecture=architecture,
    )


def _bundler(
    source_root: Path, cache_root: Path, architecture: lambda_.Architecture = X86
) -> PipLocalBundling:
    return PipLocalBundling(
        source_root=source_root,
        packages=("image_core", "image_api"),
        requirements=source_root / "image_api" / "requirements.txt",
        architecture=architecture,
        cache_root=cache_root,
    )


class FakePip:
    """Stands in for subprocess.run: records each command and "installs" one module into --target."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "pydantic").mkdir(parents=True, exist_ok=True)
        (target / "pydantic" / "__init__.py").write_text("VERSION = '2.14.4'\n")
        return subprocess.CompletedProcess(command, 0)


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> FakePip:
    fake = FakePip()
    monkeypatch.setattr(subprocess, "run", fake)
    return fake


def test_given_unchanged_inputs_when_hashed_twice_then_the_asset_hash_is_stable(source_root: Path) -> None:
    assert _hash(source_root) == _hash(source_root)


def test_given_only_bytecode_changes_when_hashed_then_the_asset_hash_is_unchanged(source_root: Path) -> None:
    before = _hash(source_root)

    (source_root / "image_core" / "__pycache__").mkdir()
    (source_root / "image_core" / "__pycache__" / "schema.cpython-313.pyc").write_text("new bytecode")

    assert _hash(source_root) == before


def test_given_another_package_changes_when_hashed_then_the_asset_hash_is_unchanged(
    source_root: Path,
) -> None:
    before = _hash(source_root)

    (source_root / "image_processing" / "handler.py").write_text("changed = True\n")

    assert _hash(source_root) == before


@pytest.mark.parametrize(
    "relative",
    ["image_core/schema.py", "image_api/upload.py", "image_api/new_module.py", "image_api/requirements.txt"],
)
def test_given_a_source_or_requirement_changes_when_hashed_then_the_asset_hash_changes(
    source_root: Path, relative: str
) -> None:
    before = _hash(source_root)

    path = source_root / relative
    path.write_text((path.read_text() if path.exists() else "") + "# changed\n")

    assert _hash(source_root) != before


def test_given_another_architecture_when_hashed_then_the_asset_hash_changes(source_root: Path) -> None:
    assert _hash(source_root, X86) != _hash(source_root, ARM)


def test_given_a_source_change_when_keyed_then_the_dependencies_key_is_unchanged(source_root: Path) -> None:
    requirements = source_root / "image_api" / "requirements.txt"
    before = dependencies_key(requirements, X86)

    (source_root / "image_api" / "upload.py").write_text("changed = True\n")

    assert dependencies_key(requirements, X86) == before


def test_given_only_comments_differ_when_keyed_then_requirement_files_share_a_dependencies_key(
    tmp_path: Path,
) -> None:
    first = tmp_path / "first.txt"
    second = tmp_path / "second.txt"
    first.write_text("# for the API functions\npydantic==2.14.4\n")
    second.write_text("# for the processing function\n\npydantic==2.14.4  # validation\n")

    assert dependencies_key(first, X86) == dependencies_key(second, X86)


def test_given_a_requirements_or_architecture_change_when_keyed_then_the_dependencies_key_changes(
    source_root: Path,
) -> None:
    requirements = source_root / "image_api" / "requirements.txt"
    before = dependencies_key(requirements, X86)

    assert dependencies_key(requirements, ARM) != before
    requirements.write_text("pydantic==2.14.5\n")
    assert dependencies_key(requirements, X86) != before


def test_given_an_empty_cache_when_bundling_then_pip_installs_lambda_wheels_for_the_architecture_once(
    source_root: Path, tmp_path: Path, fake_pip: FakePip
) -> None:
    output = tmp_path / "asset"
    output.mkdir()

    assert _bundler(source_root, tmp_path / "cache", ARM).try_bundle(str(output), OPTIONS) is True

    (command,) = fake_pip.commands
    assert command[1:4] == ["-m", "pip", "install"]
    assert "--only-binary=:all:" in command
    assert command[command.index("--python-version") + 1] == "3.13"
    assert command[command.index("--implementation") + 1] == "cp"
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"] == [
        "manylinux_2_28_aarch64",
        "manylinux2014_aarch64",
    ]
    assert command[-2:] == ["-r", str(source_root / "image_api" / "requirements.txt")]


def test_given_bundling_when_done_then_the_asset_holds_requirements_shared_code_and_the_function_package(
    source_root: Path, tmp_path: Path, fake_pip: FakePip
) -> None:
    output = tmp_path / "asset"
    output.mkdir()

    _bundler(source_root, tmp_path / "cache").try_bundle(str(output), OPTIONS)

    files = {path.relative_to(output).as_posix() for path in output.rglob("*") if path.is_file()}
    sources = {
        "pydantic/__init__.py",
        "image_core/__init__.py",
        "image_core/schema.py",
        "image_api/__init__.py",
        "image_api/upload.py",
    }
    bytecode = {
        f"{Path(source).parent}/__pycache__/{Path(source).stem}.cpython-313.pyc" for source in sources
    }
    assert files == sources | bytecode | {"image_api/requirements.txt"}


def test_given_bundling_when_done_then_every_module_has_bytecode_valid_whatever_the_files_times(
    source_root: Path, tmp_path: Path, fake_pip: FakePip
) -> None:
    """Lambda cannot write bytecode into /var/task: without it every cold start compiles every module."""
    output = tmp_path / "asset"
    output.mkdir()

    _bundler(source_root, tmp_path / "cache").try_bundle(str(output), OPTIONS)

    own, installed = (
        "image_api/__pycache__/upload.cpython-313.pyc",
        "pydantic/__pycache__/__init__.cpython-313.pyc",
    )
    for pyc in (own, installed):
        header = (output / pyc).read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER  # compiled, not the stale file from the source tree
        # PEP 552 flags: hash-based (bit 0), source not checked (bit 1 clear): the zip's times do not matter.
        assert int.from_bytes(header[4:8], "little") == 0b01


def test_given_a_cache_hit_when_bundling_then_pip_does_not_run(
    source_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    entry = cache / dependencies_key(source_root / "image_api" / "requirements.txt", X86)
    (entry / "pydantic").mkdir(parents=True)
    (entry / "pydantic" / "__init__.py").write_text("")

    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip ran on a cache hit")

    monkeypatch.setattr(subprocess, "run", no_pip)
    output = tmp_path / "asset"
    output.mkdir()

    assert _bundler(source_root, cache).try_bundle(str(output), OPTIONS) is True
    assert (output / "pydantic" / "__init__.py").is_file()
    assert (output / "image_api" / "upload.py").is_file()


def test_given_a_first_bundle_when_bundling_again_then_the_second_is_a_cache_hit(
    source_root: Path, tmp_path: Path, fake_pip: FakePip
) -> None:
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        _bundler(source_root, tmp_path / "cache").try_bundle(str(tmp_path / name), OPTIONS)

    assert len(fake_pip.commands) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        dependencies_key(source_root / "image_api" / "requirements.txt", X86)
    ]


def test_given_pip_fails_when_bundling_then_the_error_surfaces_and_nothing_is_cached(
    source_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_pip(command: list[str], **kwargs: object) -> None:
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(subprocess, "run", failing_pip)
    output = tmp_path / "asset"
    output.mkdir()

    with pytest.raises(subprocess.CalledProcessError):
        _bundler(source_root, tmp_path / "cache").try_bundle(str(output), OPTIONS)
    assert list((tmp_path / "cache").iterdir()) == []


def test_given_bundling_stacks_is_empty_when_synthesized_then_the_bundler_is_never_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def must_not_bundle(self: PipLocalBundling, output_dir: str, options: BundlingOptions) -> bool:
        raise AssertionError("bundled although aws:cdk:bundling-stacks is empty")

    monkeypatch.setattr(PipLocalBundling, "try_bundle", must_not_bundle)
    from stacks.settings import stage_settings

    stack = synth_stack(stage_settings("dev"))

    assert stack.node.try_get_context("aws:cdk:bundling-stacks") == []
    assert not stack.bundling_required
    stack.node.root.synth()  # type: ignore[attr-defined]


def test_given_requirements_without_dependencies_when_bundling_then_pip_installs_them_with_no_deps(
    source_root: Path, tmp_path: Path, fake_pip: FakePip
) -> None:
    requirements = source_root / "image_api" / "requirements.txt"
    before = dependencies_key(requirements, ARM)
    (source_root / "image_api" / "requirements-no-deps.txt").write_text("aws-xray-sdk==2.14.0\n")
    output = tmp_path / "asset"
    output.mkdir()

    _bundler(source_root, tmp_path / "cache", ARM).try_bundle(str(output), OPTIONS)

    assert dependencies_key(requirements, ARM) != before
    first, second = fake_pip.commands
    assert "--no-deps" not in first
    assert second[-3:] == ["--no-deps", "-r", str(source_root / "image_api" / "requirements-no-deps.txt")]
    assert second[1:4] == ["-m", "pip", "install"]
    assert [second[i + 1] for i, arg in enumerate(second) if arg == "--platform"] == [
        "manylinux_2_28_aarch64",
        "manylinux2014_aarch64",
    ]
