"""Point-in-time recovery for tables created by CloudFormation.

LocalStack's CloudFormation providers for ``AWS::DynamoDB::Table`` and
``AWS::DynamoDB::GlobalTable`` (CDK's ``Table`` and ``TableV2``) accept
``PointInTimeRecoverySpecification`` but never call ``UpdateContinuousBackups``, so a
table whose template asks for PITR reports it disabled. This start-up hook wraps their
create and update so that, once the table is ACTIVE, the template's setting is applied
through the DynamoDB API (served by moto), as CloudFormation does in AWS.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks
from localstack.services.cloudformation.resource_provider import OperationStatus, ProgressEvent
from localstack.utils.patch import patch

from .cloudformation_shapes import point_in_time_recovery


def _apply(request: Any, event: ProgressEvent[Any]) -> ProgressEvent[Any]:
    if event.status != OperationStatus.SUCCESS:
        return event
    model = event.resource_model or {}
    enabled = point_in_time_recovery(model, request.region_name)
    if enabled is not None and model.get("TableName"):
        request.aws_client_factory.dynamodb.update_continuous_backups(
            TableName=model["TableName"],
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled},
        )
    return event


@hooks.on_infra_start()
def apply_point_in_time_recovery_from_templates() -> None:
    from localstack.services.dynamodb.resource_providers.aws_dynamodb_globaltable import (
        DynamoDBGlobalTableProvider,
    )
    from localstack.services.dynamodb.resource_providers.aws_dynamodb_table import DynamoDBTableProvider

    for provider in (DynamoDBTableProvider, DynamoDBGlobalTableProvider):
        for method in ("create", "update"):

            @patch(getattr(provider, method))
            def with_pitr(original: Any, self: Any, request: Any) -> ProgressEvent[Any]:
                return _apply(request, original(self, request))
