"""What CloudFormation hands to resources, shaped as AWS does: no LocalStack imports here,
so the unit tests can check it with any Python."""

from __future__ import annotations

import hashlib
from typing import Any


def fallback_physical_id(stack_id: str, logical_id: str) -> str:
    digest = hashlib.sha256(f"{stack_id}/{logical_id}".encode()).hexdigest()[:12].upper()
    return f"{logical_id}-{digest}"


def custom_resource_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """The template's properties as CloudFormation sends them to a custom resource.

    Only the template's properties (not what the function answered earlier), and every
    scalar as a string: CloudFormation turns ``true`` into ``"true"`` and ``5`` into
    ``"5"``, and handlers rely on it (CDK's notifications handler calls ``.lower()``).
    """
    return {
        key: as_cloudformation_strings(value)
        for key, value in properties.items()
        if key != "PhysicalResourceId"
    }


def as_cloudformation_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: as_cloudformation_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_cloudformation_strings(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def point_in_time_recovery(model: dict[str, Any], region: str) -> bool | None:
    """The PITR setting a table's template asks for, or None when it says nothing."""
    spec = model.get("PointInTimeRecoverySpecification")
    for replica in model.get("Replicas") or []:  # GlobalTable: the replica in this region
        if replica.get("Region") in (None, region):
            spec = replica.get("PointInTimeRecoverySpecification") or spec
    if not spec or "PointInTimeRecoveryEnabled" not in spec:
        return None
    return str(spec["PointInTimeRecoveryEnabled"]).lower() == "true"
