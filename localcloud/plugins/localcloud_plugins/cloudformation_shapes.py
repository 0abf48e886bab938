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


# The stage properties a template may change in place, and their paths in UpdateStage's patch
# operations. (StageName and RestApiId are create-only: a change replaces the stage.)
_STAGE_PATHS = {
    "DeploymentId": "/deploymentId",
    "Description": "/description",
    "TracingEnabled": "/tracingEnabled",
    "CacheClusterEnabled": "/cacheClusterEnabled",
    "CacheClusterSize": "/cacheClusterSize",
}


def stage_patch_operations(previous: dict[str, Any], desired: dict[str, Any]) -> list[dict[str, str]]:
    """The ``UpdateStage`` patch operations that take a stage from ``previous`` to ``desired``.

    Above all ``/deploymentId``: CDK gives an API a new ``AWS::ApiGateway::Deployment`` whenever
    its methods change, and the stage must move to it before the old one is deleted. Variables
    are patched one by one, as the API expects.
    """
    operations: list[dict[str, str]] = []
    for prop, path in _STAGE_PATHS.items():
        value = desired.get(prop)
        if value == previous.get(prop):
            continue
        if value is None:
            operations.append({"op": "remove", "path": path})
        else:
            # Patch values are strings; booleans as API Gateway spells them.
            text = str(value).lower() if isinstance(value, bool) else str(value)
            operations.append({"op": "replace", "path": path, "value": text})
    old_vars: dict[str, Any] = previous.get("Variables") or {}
    new_vars: dict[str, Any] = desired.get("Variables") or {}
    for name in sorted(old_vars.keys() - new_vars.keys()):
        operations.append({"op": "remove", "path": f"/variables/{name}"})
    for name in sorted(new_vars):
        if old_vars.get(name) != new_vars[name]:
            operations.append({"op": "replace", "path": f"/variables/{name}", "value": str(new_vars[name])})
    return operations
