"""CloudFormation custom resources (``Custom::*``) backed by Lambda functions.

The community LocalStack runtime has no provider for custom resources: it marks them
created without running anything, so CDK's own custom resources (bucket notifications,
auto-deleting objects, log retention) would silently do nothing. This provider does what
CloudFormation does: it invokes the ``ServiceToken`` function with a custom-resource
event and waits for the answer the function sends to ``ResponseURL``.

``ResponseURL`` is a route of the local cloud's own gateway. The function is invoked
synchronously, so a function that fails before answering fails the deployment at once
with its own error, instead of after CloudFormation's hour-long wait.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, ClassVar

from botocore.config import Config
from localstack import config
from localstack.aws.connect import connect_to
from localstack.http import Request, Response, route
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)
from localstack.services.edge import ROUTER
from localstack.utils.objects import singleton_factory

from .cloudformation_shapes import custom_resource_properties, fallback_physical_id

RESPONSE_PATH = "/_localcloud/cfn-responses"
# A function that returned without answering may still have its PUT in flight.
LATE_ANSWER_SECONDS = 5.0
# Lambda's longest timeout plus a margin: the invoke waits for the function to finish.
INVOKE_READ_TIMEOUT = 905


class ResponseCollector:
    """Receives the PUTs that custom-resource functions send to their ResponseURL."""

    def __init__(self) -> None:
        self._pending: dict[str, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def expect(self, token: str) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            self._pending[token] = future
        return future

    def forget(self, token: str) -> None:
        with self._lock:
            self._pending.pop(token, None)

    @route(f"{RESPONSE_PATH}/<token>", methods=["PUT", "POST"])
    def receive(self, request: Request, token: str) -> Response:
        with self._lock:
            future = self._pending.get(token)
        if future is None or future.done():
            return Response(status=404)
        future.set_result(json.loads(request.data or b"{}"))
        return Response(status=200)


@singleton_factory
def response_collector() -> ResponseCollector:
    collector = ResponseCollector()
    ROUTER.add(collector)
    return collector


def response_origin() -> str:
    return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}"


class CustomResourceProvider(ResourceProvider[dict[str, Any]]):
    TYPE = "AWS::CloudFormation::CustomResource"
    SCHEMA: ClassVar[dict[str, Any]] = {
        "typeName": TYPE,
        "properties": {"ServiceToken": {"type": "string"}, "PhysicalResourceId": {"type": "string"}},
        "required": ["ServiceToken"],
        "primaryIdentifier": ["/properties/PhysicalResourceId"],
        "readOnlyProperties": ["/properties/PhysicalResourceId"],
    }

    def create(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        return self._run("Create", request)

    def update(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        return self._run("Update", request)

    def delete(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        return self._run("Delete", request)

    def _run(
        self, request_type: str, request: ResourceRequest[dict[str, Any]]
    ) -> ProgressEvent[dict[str, Any]]:
        desired = dict(request.desired_state or {})
        previous = dict(request.previous_state or {})
        properties = desired if request_type != "Delete" else (previous or desired)
        token = uuid.uuid4().hex
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": properties["ServiceToken"],
            "ResponseURL": f"{response_origin()}{RESPONSE_PATH}/{token}",
            "StackId": request.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": request.logical_resource_id,
            "ResourceType": request.resource_type,
            "ResourceProperties": custom_resource_properties(properties),
        }
        if request_type != "Create":
            event["PhysicalResourceId"] = previous.get("PhysicalResourceId") or fallback_physical_id(
                request.stack_id, request.logical_resource_id
            )
        if request_type == "Update":
            event["OldResourceProperties"] = custom_resource_properties(previous)

        collector = response_collector()
        answer = collector.expect(token)
        try:
            function_error = self._invoke(request, properties["ServiceToken"], event)
            try:
                response = answer.result(timeout=0 if function_error else LATE_ANSWER_SECONDS)
            except FutureTimeout:
                reason = function_error or "the function returned without sending a response to ResponseURL"
                return ProgressEvent(
                    OperationStatus.FAILED, resource_model={}, message=f"Custom resource failed: {reason}"
                )
        finally:
            collector.forget(token)

        if response.get("Status") != "SUCCESS":
            return ProgressEvent(
                OperationStatus.FAILED,
                resource_model={},
                message=f"Custom resource failed: {response.get('Reason', 'no reason given')}",
            )
        model = {**properties, **(response.get("Data") or {})}
        model["PhysicalResourceId"] = response.get("PhysicalResourceId") or event.get(
            "PhysicalResourceId", fallback_physical_id(request.stack_id, request.logical_resource_id)
        )
        return ProgressEvent(OperationStatus.SUCCESS, resource_model=model)

    @staticmethod
    def _invoke(request: ResourceRequest[dict[str, Any]], function: str, event: dict[str, Any]) -> str | None:
        """Invoke the function; return its error message when it failed."""
        client = connect_to(
            region_name=request.region_name,
            aws_access_key_id=request.account_id,
            config=Config(read_timeout=INVOKE_READ_TIMEOUT, retries={"max_attempts": 0}),
        ).lambda_
        result = client.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
        if "FunctionError" not in result:
            return None
        message: str = result["Payload"].read().decode(errors="replace")
        return message


class CustomResourceProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::CloudFormation::CustomResource"

    def __init__(self) -> None:
        self.factory: type[ResourceProvider[Any]] | None = None

    def load(self) -> None:
        self.factory = CustomResourceProvider
