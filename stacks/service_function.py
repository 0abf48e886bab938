"""One Python Lambda function of this service, with the parts every function has."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnElement, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from image_core import environment as env
from stacks.python_function_code import RUNTIME

SERVICE_NAME = "image-service"


@dataclass(frozen=True, kw_only=True)
class FunctionOptions:
    """What a stage decides about a function."""

    architecture: lambda_.Architecture
    memory_mb: int
    timeout_seconds: int
    log_retention: logs.RetentionDays
    log_level: str
    log_removal_policy: RemovalPolicy


class ServiceFunction(Construct):
    """A function on this service's runtime with its own log group and Powertools settings.

    The log group is created here rather than by Lambda on first invocation, so that its
    retention and removal are CloudFormation's (no LogRetention custom resource).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        environment: Mapping[str, str],
        options: FunctionOptions,
        description: str,
        dead_letter_queue: sqs.IQueue | None = None,
        reserved_concurrent_executions: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=options.log_retention,
            removal_policy=options.log_removal_policy,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler=handler,
            code=code,
            architecture=options.architecture,
            memory_size=options.memory_mb,
            timeout=Duration.seconds(options.timeout_seconds),
            description=description,
            log_group=self.log_group,
            # Where Lambda puts asynchronous events that failed every attempt.
            dead_letter_queue=dead_letter_queue,
            reserved_concurrent_executions=reserved_concurrent_executions,
            environment={
                **environment,
                env.POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
                env.POWERTOOLS_LOG_LEVEL: options.log_level,
            },
        )
        validations = Validations.of(self)
        validations.acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                reason="The AWS managed basic execution role only lets the function write its own "
                "CloudWatch logs; it grants no data access.",
            ),
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="The runtime is pinned to Python 3.13 by the design (handlers, wheels and "
                "tests target it); moving to a newer runtime is a deliberate upgrade.",
            ),
        )

    def acknowledge_wildcard_resource(self, resource: str, reason: str) -> None:
        """Accept cdk-nag's IAM5 finding for one resource pattern in this function's policy."""
        Validations.of(self).acknowledge(
            Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{resource}]", reason=reason)
        )


def nag_arn(construct: IConstruct) -> str:
    """How cdk-nag writes the ARN of ``construct``'s resource in a finding: ``<LogicalId.Arn>``."""
    resource = construct.node.default_child
    if not isinstance(resource, CfnElement):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource of its own")
    return f"<{Stack.of(construct).get_logical_id(resource)}.Arn>"
