"""Alarms on every way the service can fail, to one SNS topic, and a dashboard of its health.

What each alarm means and what to do about it: README.md, Operations. The thresholds are
``stacks.settings.AlarmThresholds``; every alarm looks at 5-minute periods, treats missing data
as fine (no traffic is not an outage), and tells the topic both when it fires and when it clears.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.service_function import METRICS_NAMESPACE, SERVICE_NAME
from stacks.settings import AlarmThresholds

PERIOD = Duration.minutes(5)
AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


@dataclass(frozen=True, kw_only=True)
class Monitored:
    """What the alarms watch, as the other constructs expose it."""

    stage: apigw.Stage
    # Every function of the service, by a short name for alarms and graphs ("Upload", ...).
    functions: Mapping[str, lambda_.IFunction]
    # The processing function's on-failure destination: each invocation is an upload failed for good.
    failure_destination: lambda_.IFunction
    dead_letter_queue: sqs.IQueue
    table: dynamodb.ITable


class ServiceMonitoring(Construct):
    """Exposes ``topic`` (where every alarm goes), ``alarms`` (by name) and ``dashboard``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitored: Monitored,
        thresholds: AlarmThresholds,
        alarm_email: str | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key: this key
        # lets it, and nobody else but the account.
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the image service's alarm notifications",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="Image service alarms", master_key=key, enforce_ssl=True
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        stage, table = monitored.stage, monitored.table

        requests = stage.metric_count(period=PERIOD, statistic="Sum", label="requests")
        server_errors = stage.metric_server_error(period=PERIOD, statistic="Sum", label="5xx")
        self._alarm(
            "Api5xxRate",
            cloudwatch.MathExpression(
                expression=f"IF(requests >= {thresholds.api_min_requests}, 100 * errors / requests, 0)",
                using_metrics={"requests": requests, "errors": server_errors},
                label="5xx answers, % of requests",
                period=PERIOD,
            ),
            threshold=thresholds.api_5xx_percent,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2,
            description=f"More than {thresholds.api_5xx_percent}% of the API's answers were 5xx "
            "in two 5-minute periods in a row.",
        )
        self._alarm(
            "ApiLatencyP99",
            stage.metric_latency(period=PERIOD, statistic="p99"),
            threshold=thresholds.api_p99_latency_ms,
            evaluation_periods=3,
            description=f"The API's 99th percentile latency was over {thresholds.api_p99_latency_ms} ms "
            "for 15 minutes.",
        )
        for name, function in monitored.functions.items():
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                threshold=thresholds.function_errors,
                description=f"The {name} function failed (an exception it did not answer, a timeout "
                "or a crash) in the last 5 minutes.",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                threshold=thresholds.function_throttles,
                description=f"Lambda refused to run the {name} function (concurrency exhausted) in the "
                "last 5 minutes.",
            )
        self._alarm(
            "ProcessingFailures",
            monitored.failure_destination.metric_invocations(period=PERIOD, statistic="Sum"),
            threshold=thresholds.processing_failures,
            description="An upload failed processing for good (every attempt failed): it is marked "
            "failed and its event is in the dead-letter queue.",
        )
        self._alarm(
            "DeadLetterQueueNotEmpty",
            monitored.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            threshold=1,
            description="Events are waiting in the processing dead-letter queue: inspect, then redrive "
            "or purge them.",
        )
        self._alarm(
            "DynamoDbThrottles",
            cloudwatch.MathExpression(
                expression="reads + writes",
                using_metrics={
                    "reads": table.metric("ReadThrottleEvents", period=PERIOD, statistic="Sum"),
                    "writes": table.metric("WriteThrottleEvents", period=PERIOD, statistic="Sum"),
                },
                label="throttled reads and writes",
                period=PERIOD,
            ),
            threshold=thresholds.dynamodb_throttles,
            description="DynamoDB throttled requests to the metadata table in the last 5 minutes.",
        )

        self.dashboard = self._dashboard(monitored, requests, server_errors)

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        # Counts alarm from the threshold on ("at least one failure"); rates above it.
        comparison: cloudwatch.ComparisonOperator = AT_LEAST,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"[{name}] {description} See README.md, Operations.",
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms[name] = alarm

    def _dashboard(
        self, monitored: Monitored, requests: cloudwatch.IMetric, server_errors: cloudwatch.IMetric
    ) -> cloudwatch.Dashboard:
        stage, table, functions = monitored.stage, monitored.table, monitored.functions

        def each_function(metric: str, statistic: str) -> list[cloudwatch.IMetric]:
            return [
                function.metric(metric, period=PERIOD, statistic=statistic, label=name)
                for name, function in functions.items()
            ]

        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24)
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    requests,
                    stage.metric_client_error(period=PERIOD, statistic="Sum", label="4xx"),
                    server_errors,
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[
                    stage.metric_latency(period=PERIOD, statistic="p50", label="p50"),
                    stage.metric_latency(period=PERIOD, statistic="p99", label="p99"),
                    stage.metric_integration_latency(period=PERIOD, statistic="p99", label="integration p99"),
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Function errors", left=each_function("Errors", "Sum"), width=8),
            cloudwatch.GraphWidget(
                title="Function throttles", left=each_function("Throttles", "Sum"), width=8
            ),
            cloudwatch.GraphWidget(
                title="Function duration p99 (ms)", left=each_function("Duration", "p99"), width=8
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Uploads: requested, available, rejected, failed, duplicates, deleted",
                left=[
                    _service_metric(name, label)
                    for name, label in (
                        ("UploadsRequested", "requested"),
                        ("ImagesAvailable", "available"),
                        ("ImagesFailed", "failed for good"),
                        ("DuplicateHints", "duplicate hints"),
                        ("ImagesDeleted", "deleted"),
                    )
                ],
                right=[_search("ImagesRejected", "reason", "Sum", "rejected: ")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API errors by route and code",
                left=[_search("ApiErrors", "code,route", "Sum", "")],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Processing: duration (ms) and bytes",
                left=[
                    _service_metric("ProcessingDuration", "p50 ms", statistic="p50"),
                    _service_metric("ProcessingDuration", "p99 ms", statistic="p99"),
                ],
                right=[_service_metric("ProcessedBytes", "bytes")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Reconciliation: findings and repairs by check",
                left=[_search("ReconcileFindings", "check", "Sum", "found: ")],
                right=[_search("ReconcileRepairs", "check", "Sum", "repaired: ")],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Uploads failed for good, dead-letter queue",
                left=[
                    monitored.failure_destination.metric_invocations(
                        period=PERIOD, statistic="Sum", label="failed for good"
                    )
                ],
                right=[
                    monitored.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum", label="dead-letter queue depth"
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="DynamoDB capacity and throttles",
                left=[
                    table.metric_consumed_read_capacity_units(
                        period=PERIOD, statistic="Sum", label="read units"
                    ),
                    table.metric_consumed_write_capacity_units(
                        period=PERIOD, statistic="Sum", label="write units"
                    ),
                ],
                right=[
                    table.metric(
                        "ReadThrottleEvents", period=PERIOD, statistic="Sum", label="read throttles"
                    ),
                    table.metric(
                        "WriteThrottleEvents", period=PERIOD, statistic="Sum", label="write throttles"
                    ),
                ],
                width=12,
            ),
        )
        return dashboard


def _service_metric(name: str, label: str, *, statistic: str = "Sum") -> cloudwatch.Metric:
    """One of the functions' own (EMF) metrics, which carry the service dimension only."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=PERIOD,
        label=label,
    )


def _search(name: str, dimensions: str, statistic: str, label: str) -> cloudwatch.MathExpression:
    """Every series of one of the functions' metrics with these extra dimensions (one per reason,
    route and code, or check), found by a search: they need not be listed here."""
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{METRICS_NAMESPACE},{dimensions},service}} MetricName=\"{name}\"', "
            f"'{statistic}', {int(PERIOD.to_seconds())})"
        ),
        label=label,
        period=PERIOD,
        using_metrics={},
    )
