"""One reconciliation run: walk the table and the bucket, ask every registered check, repair if asked.

Paged and bounded: the table is scanned a page at a time and each bucket prefix listed a page
at a time, up to ``Limits`` items each and ``max_repairs`` repairs per run; a run that stops
early (bounds, or the caller's ``out_of_time``) says where, and ``Resume`` carries on from
there. Findings past ``max_repairs`` are reported, not repaired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from botocore.exceptions import ClientError

from image_core.errors import ImageServiceError
from image_core.image import is_image_id
from image_core.repository import ImageRepository
from image_core.storage import ImageStorage, ObjectEntry
from image_reconcile.checks import CHECKS, Context, Finding, Registry

# How many findings of each check a report lists; the counts are always whole.
LISTED_FINDINGS: Final = 100


@dataclass(frozen=True)
class Limits:
    page_size: int = 100
    # Image records read, and objects listed per prefix, in one run.
    max_records: int = 100_000
    max_objects: int = 100_000
    max_repairs: int = 500


@dataclass(frozen=True)
class Resume:
    """Where an earlier run stopped: the table's last key, and each prefix's last key."""

    records_after: dict[str, str] | None = None
    objects_after: dict[str, str] = field(default_factory=dict)


@dataclass
class CheckReport:
    examined: int = 0
    found: int = 0
    repaired: int = 0
    # Repairs that did not happen: the state changed meanwhile, or the call failed.
    not_repaired: int = 0
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "found": self.found,
            "repaired": self.repaired,
            "not_repaired": self.not_repaired,
            "findings": [finding.as_dict() for finding in self.findings],
        }


@dataclass
class Report:
    repair: bool
    min_age_seconds: int
    checks: dict[str, CheckReport]
    # None when the walk is complete; otherwise where the next run should carry on.
    resume: Resume | None = None

    @property
    def found(self) -> int:
        return sum(check.found for check in self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "repair": self.repair,
            "min_age_seconds": self.min_age_seconds,
            "complete": self.resume is None,
            "found": self.found,
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
            "resume": None
            if self.resume is None
            else {"records_after": self.resume.records_after, "objects_after": self.resume.objects_after},
        }


class Reconciler:
    def __init__(
        self,
        *,
        repository: ImageRepository,
        storage: ImageStorage,
        clock: Callable[[], datetime],
        limits: Limits = Limits(),
        checks: Registry = CHECKS,
    ) -> None:
        self._repository = repository
        self._storage = storage
        self._clock = clock
        self._limits = limits
        self._checks = checks

    def run(
        self,
        *,
        repair: bool,
        min_age: timedelta,
        resume: Resume | None = None,
        out_of_time: Callable[[], bool] = lambda: False,
        on_finding: Callable[[Finding, str], None] = lambda _finding, _outcome: None,
    ) -> Report:
        """Report (and with ``repair``, repair) what every check finds older than ``min_age``.

        ``on_finding`` hears of each finding and what became of it, as it happens.
        """
        context = Context(self._repository, self._storage, self._clock(), min_age)
        resume = resume or Resume()
        report = Report(
            repair=repair,
            min_age_seconds=int(min_age.total_seconds()),
            checks={name: CheckReport() for name in self._checks.names()},
        )
        run = _Run(
            repository=self._repository,
            storage=self._storage,
            limits=self._limits,
            checks=self._checks,
            on_finding=on_finding,
            context=context,
            report=report,
            repair=repair,
            out_of_time=out_of_time,
        )
        records_after = run.walk_records(resume.records_after)
        objects_after = {
            check.prefix: last
            for check in self._checks.object_checks
            if (last := run.walk_objects(check.prefix, resume.objects_after.get(check.prefix))) is not None
        }
        if records_after is not None or objects_after:
            report.resume = Resume(records_after=records_after, objects_after=objects_after)
        return report


@dataclass
class _Run:
    """The state of one run: its context, its report so far, and how many repairs it made."""

    repository: ImageRepository
    storage: ImageStorage
    limits: Limits
    checks: Registry
    on_finding: Callable[[Finding, str], None]
    context: Context
    report: Report
    repair: bool
    out_of_time: Callable[[], bool]
    repairs: int = 0

    def walk_records(self, start: dict[str, str] | None) -> dict[str, str] | None:
        """Every image record through every record check; where it stopped, or None when done."""
        limits = self.limits
        read = 0
        while read < limits.max_records and not self.out_of_time():
            page = self.repository.scan_images(limit=limits.page_size, start_key=start)
            for image in page.images:
                for check in self.checks.record_checks:
                    self.report.checks[check.name].examined += 1
                    finding = check.examine(image, self.context)
                    if finding is not None:
                        self._settle(finding, partial(check.repair, image, self.context))
            read += limits.page_size
            start = page.last_evaluated_key
            if start is None:
                return None
        return start

    def walk_objects(self, prefix: str, start_after: str | None) -> str | None:
        """Every object under ``prefix``, one image at a time, through the checks of that prefix."""
        checks = [check for check in self.checks.object_checks if check.prefix == prefix]
        limits = self.limits
        listed = 0
        for image_id, objects, last_key in self._images_under(prefix, start_after):
            record = self.repository.get(image_id) if is_image_id(image_id) else None
            for check in checks:
                self.report.checks[check.name].examined += len(objects)
                finding = check.examine(image_id, objects, record, self.context)
                if finding is not None:
                    self._settle(finding, partial(check.repair, finding, self.context))
            listed += len(objects)
            if listed >= limits.max_objects or self.out_of_time():
                return last_key
        return None

    def _images_under(
        self, prefix: str, start_after: str | None
    ) -> Iterator[tuple[str, list[ObjectEntry], str]]:
        """The objects under ``prefix`` grouped by image (keys sort by image id), with each group's last key.

        A group is complete when the next key belongs to another image or the listing ends.
        """
        image_id: str | None = None
        group: list[ObjectEntry] = []
        while True:
            page = self.storage.objects_page(prefix, limit=self.limits.page_size, start_after=start_after)
            for entry in page.objects:
                owner = entry.key.removeprefix(prefix).split("/", 1)[0]
                if owner != image_id and group:
                    assert image_id is not None
                    yield image_id, group, group[-1].key
                    group = []
                image_id = owner
                group.append(entry)
            if page.next_start_after is None:
                break
            start_after = page.next_start_after
        if group and image_id is not None:
            yield image_id, group, group[-1].key

    def _settle(self, finding: Finding, repair: Callable[[], bool]) -> None:
        check = self.report.checks[finding.check]
        check.found += 1
        if len(check.findings) < LISTED_FINDINGS:
            check.findings.append(finding)
        outcome = "reported"
        if self.repair and self.repairs < self.limits.max_repairs:
            self.repairs += 1
            try:
                outcome = "repaired" if repair() else "changed meanwhile, left alone"
            except (ClientError, ImageServiceError) as error:
                # Left for the next run, which finds it again; one failing repair stops no other.
                outcome = f"repair failed: {type(error).__name__}: {error}"
            if outcome == "repaired":
                check.repaired += 1
            else:
                check.not_repaired += 1
        elif self.repair:
            outcome = "reported: this run's repairs are used up"
        self.on_finding(finding, outcome)
