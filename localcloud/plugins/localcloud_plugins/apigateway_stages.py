"""API Gateway stages that follow their API's new deployment when a stack is updated.

CDK gives a REST API a new ``AWS::ApiGateway::Deployment`` (a new logical id) whenever its
methods change; CloudFormation then creates it, moves the stage to it (an update of
``AWS::ApiGateway::Stage``) and deletes the old deployment. LocalStack's Stage provider does
not implement update (it logs a warning and keeps the old state), and its Deployment provider
deletes the stages that still point at a deployment it deletes: redeploying a stack with a
new route left the API without its stage ("does not correspond to a deployed API Gateway
API"). This start-up hook makes the stage update real (``UpdateStage``) and makes deleting a
deployment leave stages alone, as in AWS, where a deployment in use cannot be deleted.
"""

from __future__ import annotations

import logging
from typing import Any

from localstack.runtime import hooks
from localstack.services.cloudformation.resource_provider import OperationStatus, ProgressEvent
from localstack.utils.patch import patch

from .cloudformation_shapes import stage_patch_operations

LOG = logging.getLogger(__name__)


@hooks.on_infra_start()
def stages_follow_their_deployment() -> None:
    from localstack.services.apigateway.resource_providers.aws_apigateway_deployment import (
        ApiGatewayDeploymentProvider,
    )
    from localstack.services.apigateway.resource_providers.aws_apigateway_stage import (
        ApiGatewayStageProvider,
    )

    @patch(ApiGatewayStageProvider.update)
    def update_stage(original: Any, self: Any, request: Any) -> ProgressEvent[Any]:
        desired: dict[str, Any] = request.desired_state
        previous: dict[str, Any] = request.previous_state or {}
        operations = stage_patch_operations(previous, desired)
        if operations:
            request.aws_client_factory.apigateway.update_stage(
                restApiId=desired["RestApiId"], stageName=desired["StageName"], patchOperations=operations
            )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model={**previous, **desired})

    @patch(ApiGatewayDeploymentProvider.delete)
    def delete_deployment(original: Any, self: Any, request: Any) -> ProgressEvent[Any]:
        model: dict[str, Any] = request.desired_state
        api = request.aws_client_factory.apigateway
        try:
            stages = api.get_stages(restApiId=model["RestApiId"])["item"]
            in_use = [s["stageName"] for s in stages if s.get("deploymentId") == model["DeploymentId"]]
            if in_use:
                LOG.warning("deployment %s is still used by %s: kept", model["DeploymentId"], in_use)
            else:
                api.delete_deployment(restApiId=model["RestApiId"], deploymentId=model["DeploymentId"])
        except api.exceptions.NotFoundException:
            pass
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)
