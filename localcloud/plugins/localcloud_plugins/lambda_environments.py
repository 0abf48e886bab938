"""Bounded execution environments: at most a machine-sized number of invocations of a function at once.

LocalStack's ``AssignmentService.get_environment`` reserves an idle environment of the function
version or starts a new one, without limit (see invocation_slots.py for why that fails on a
small machine). This start-up hook makes every invocation hold one of the version's slots
while it reserves and uses an environment, so no more environments exist than slots; an
invocation that finds every slot taken waits for one rather than starting another process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from localstack.runtime import hooks
from localstack.utils.patch import patch

from .invocation_slots import InvocationSlots


@hooks.on_infra_start()
def bound_environments_per_function() -> None:
    from localstack.services.lambda_.invocation.assignment import AssignmentService

    slots = InvocationSlots()

    @patch(AssignmentService.get_environment)
    @contextmanager
    def get_environment_in_a_slot(
        original: Any, self: Any, version_manager_id: str, function_version: Any, provisioning_type: Any
    ) -> Iterator[Any]:
        with (
            slots.slot(version_manager_id),
            original(self, version_manager_id, function_version, provisioning_type) as environment,
        ):
            yield environment
