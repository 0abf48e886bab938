"""The local cloud's test stack: one of each thing a CDK app needs from it.

A bucket with an S3 notification (CDK's Python custom resource) and auto-deleted objects
(CDK's Node.js custom resource), a table with a GSI, TTL and point-in-time recovery, a
Python and a Node.js function behind a REST API, and log retention (Node.js custom resource).
Three functions invoked asynchronously, with timeouts over a minute, their retry settings,
an SQS on-failure destination each and a dead-letter queue, for the retry tests.
"""

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

FUNCTIONS = Path(__file__).parent / "functions"
STACK_NAME = "LocalCloudTestStack"
GSI_NAME = "by-group"
# Over the 60 s that an HTTP client waits by default: the asynchronous retry tests need
# attempts that outlast it.
ASYNC_TIMEOUT_SECONDS = 65


class LocalCloudTestStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        bucket = s3.Bucket(self, "Bucket", removal_policy=cdk.RemovalPolicy.DESTROY, auto_delete_objects=True)
        table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=GSI_NAME,
                    partition_key=dynamodb.Attribute(name="group", type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name="position", type=dynamodb.AttributeType.NUMBER),
                )
            ],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        environment = {"TABLE_NAME": table.table_name, "BUCKET_NAME": bucket.bucket_name}
        python_code = lambda_.Code.from_asset(str(FUNCTIONS / "python"))

        def python_function(name: str, handler: str, timeout: int, **kwargs: Any) -> lambda_.Function:
            return lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_13,
                handler=handler,
                code=python_code,
                timeout=cdk.Duration.seconds(timeout),
                environment=environment,
                **kwargs,
            )

        api_python = python_function("ApiPython", "index.api", 10)
        direct = python_function("Direct", "index.direct", 3)
        recorder = python_function("Recorder", "index.on_object_created", 10)
        api_node = lambda_.Function(
            self,
            "ApiNode",
            runtime=lambda_.Runtime.NODEJS_20_X,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(FUNCTIONS / "node")),
            timeout=cdk.Duration.seconds(10),
            # LogRetention is one of CDK's Node.js custom resources.
            log_retention=logs.RetentionDays.ONE_WEEK,
        )
        # Invoked asynchronously: each attempt records itself in the table, then fails as the
        # event asks. Each function's on-failure destination is its own queue; the one with
        # two retries also has a dead-letter queue, as the image service's processing has.
        dead_letters = sqs.Queue(self, "AsyncDeadLetters")
        async_outputs = {"AsyncDeadLettersUrl": dead_letters.queue_url}
        for name, settings in {
            "Retry2": {"retry_attempts": 2, "dead_letter_queue": dead_letters},
            "Retry0": {"retry_attempts": 0},
            "MaxAge60": {"retry_attempts": 2, "max_event_age": cdk.Duration.seconds(60)},
        }.items():
            failures = sqs.Queue(self, f"{name}Failures")
            function = python_function(
                f"Async{name}",
                "index.async_attempt",
                ASYNC_TIMEOUT_SECONDS,
                on_failure=destinations.SqsDestination(failures),
                **settings,
            )
            table.grant_write_data(function)
            async_outputs[f"Async{name}Function"] = function.function_name
            async_outputs[f"Async{name}FailuresUrl"] = failures.queue_url

        bucket.grant_read(api_python)
        bucket.grant_read(api_node)
        table.grant_write_data(recorder)
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(recorder),
            s3.NotificationKeyFilter(prefix="uploads/"),
        )

        api = apigateway.RestApi(self, "Api", deploy_options=apigateway.StageOptions(stage_name="test"))
        api.root.add_resource("python").add_method("GET", apigateway.LambdaIntegration(api_python))
        api.root.add_resource("node").add_method("GET", apigateway.LambdaIntegration(api_node))

        for name, value in {
            "BucketName": bucket.bucket_name,
            "TableName": table.table_name,
            "ApiId": api.rest_api_id,
            "ApiStage": api.deployment_stage.stage_name,
            "DirectFunction": direct.function_name,
            "NodeFunction": api_node.function_name,
            **async_outputs,
        }.items():
            cdk.CfnOutput(self, name, value=value)


app = cdk.App()
LocalCloudTestStack(app, STACK_NAME, env=cdk.Environment(account="000000000000", region="us-east-1"))
app.synth()
