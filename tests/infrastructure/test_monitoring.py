"""The alarms: each failure mode has one, with its metric, its threshold and the topic as its action."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.settings import AlarmThresholds, StageSettings, stage_settings

from .conftest import PROD_ORIGINS, synth_stack
from .template_queries import Resource, function_by_handler, only, referenced_ids, resources

THRESHOLDS = AlarmThresholds()
FUNCTIONS = {
    "Upload": "image_api.upload.handler",
    "ListImages": "image_api.list_images.handler",
    "GetImage": "image_api.get_image.handler",
    "Download": "image_api.download.handler",
    "DeleteImage": "image_api.delete_image.handler",
    "Processing": "image_processing.handler.handler",
    "RecordFailure": "image_processing.failures.handler",
    "Reconcile": "image_reconcile.handler.handler",
}


def alarm(template: Template, name: str) -> Resource:
    """The alarm whose description starts with ``[name]`` (what an operator sees in its mail)."""
    found = [
        properties
        for properties in (
            resource["Properties"] for resource in resources(template, "AWS::CloudWatch::Alarm").values()
        )
        if properties["AlarmDescription"].startswith(f"[{name}] ")
    ]
    assert len(found) == 1, f"expected one alarm {name}, found {len(found)}"
    return found[0]


def metric_stats(properties: Resource) -> dict[str, dict[str, Any]]:
    """A math alarm's metrics by id: ``{id: MetricStat}``."""
    return {metric["Id"]: metric["MetricStat"] for metric in properties["Metrics"] if "MetricStat" in metric}


def dimension(metric: Resource, name: str) -> Any:
    (value,) = [entry["Value"] for entry in metric["Dimensions"] if entry["Name"] == name]
    return value


@pytest.fixture(scope="module")
def dev(dev_template: Template) -> Template:
    return dev_template


def test_given_the_api_when_more_than_1_percent_of_at_least_20_requests_are_5xx_then_it_alarms(
    dev: Template,
) -> None:
    properties = alarm(dev, "Api5xxRate")
    stage_id, _ = only(dev, "AWS::ApiGateway::Stage")
    stats = metric_stats(properties)

    (expression,) = [metric["Expression"] for metric in properties["Metrics"] if "Expression" in metric]
    assert expression == "IF(requests >= 20, 100 * errors / requests, 0)"
    assert (stats["requests"]["Metric"]["MetricName"], stats["errors"]["Metric"]["MetricName"]) == (
        "Count",
        "5XXError",
    )
    assert {stat["Stat"] for stat in stats.values()} == {"Sum"}
    assert dimension(stats["errors"]["Metric"], "Stage") == {"Ref": stage_id}
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanThreshold")
    assert properties["EvaluationPeriods"] == 2


def test_given_the_api_when_its_p99_latency_stays_over_3_s_for_15_minutes_then_it_alarms(
    dev: Template,
) -> None:
    properties = alarm(dev, "ApiLatencyP99")

    assert (properties["MetricName"], properties["ExtendedStatistic"]) == ("Latency", "p99")
    assert (properties["Threshold"], properties["Period"], properties["EvaluationPeriods"]) == (3000, 300, 3)
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_given_any_function_when_it_fails_or_is_throttled_once_then_it_alarms(
    dev: Template, name: str, metric: str
) -> None:
    properties = alarm(dev, f"{name}{metric}")
    function_id, _ = function_by_handler(dev, FUNCTIONS[name])

    assert (properties["Namespace"], properties["MetricName"], properties["Statistic"]) == (
        "AWS/Lambda",
        metric,
        "Sum",
    )
    assert dimension(properties, "FunctionName") == {"Ref": function_id}
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_given_an_upload_that_failed_for_good_when_the_failure_destination_runs_then_it_alarms(
    dev: Template,
) -> None:
    properties = alarm(dev, "ProcessingFailures")
    failures_id, _ = function_by_handler(dev, "image_processing.failures.handler")

    assert (properties["MetricName"], properties["Statistic"], properties["Threshold"]) == (
        "Invocations",
        "Sum",
        1,
    )
    assert dimension(properties, "FunctionName") == {"Ref": failures_id}


def test_given_the_dead_letter_queue_when_it_holds_any_message_then_it_alarms(dev: Template) -> None:
    properties = alarm(dev, "DeadLetterQueueNotEmpty")
    (queue_id, _) = only(dev, "AWS::SQS::Queue")

    assert (properties["Namespace"], properties["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert (properties["Statistic"], properties["Threshold"]) == ("Maximum", 1)
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert set(referenced_ids(dimension(properties, "QueueName"))) == {queue_id}


def test_given_the_table_when_any_request_is_throttled_then_it_alarms(dev: Template) -> None:
    properties = alarm(dev, "DynamoDbThrottles")
    table_id, _ = only(dev, "AWS::DynamoDB::Table")
    stats = metric_stats(properties)

    assert {stat["Metric"]["MetricName"] for stat in stats.values()} == {
        "ReadThrottleEvents",
        "WriteThrottleEvents",
    }
    assert all(dimension(stat["Metric"], "TableName") == {"Ref": table_id} for stat in stats.values())
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_given_every_alarm_when_it_fires_or_clears_then_the_topic_hears_of_it(dev: Template) -> None:
    topic_id, _ = only(dev, "AWS::SNS::Topic")
    alarms = [resource["Properties"] for resource in resources(dev, "AWS::CloudWatch::Alarm").values()]

    # 2 for the API, 2 per function, processing failures, the queue, the table.
    assert len(alarms) == 2 + 2 * len(FUNCTIONS) + 3
    for properties in alarms:
        assert properties["AlarmActions"] == [{"Ref": topic_id}]
        assert properties["OKActions"] == [{"Ref": topic_id}]
        assert properties["TreatMissingData"] == "notBreaching"


def test_given_the_topic_when_synthesized_then_it_is_encrypted_with_a_key_cloudwatch_may_use(
    dev: Template,
) -> None:
    _, topic = only(dev, "AWS::SNS::Topic")
    key_id, key = only(dev, "AWS::KMS::Key")

    assert set(referenced_ids(topic["Properties"]["KmsMasterKeyId"])) == {key_id}
    assert key["Properties"]["EnableKeyRotation"] is True
    principals = [
        statement.get("Principal", {}).get("Service")
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
    ]
    assert "cloudwatch.amazonaws.com" in principals


def test_given_an_alarm_email_when_synthesized_then_it_is_subscribed_and_otherwise_nobody_is(
    dev: Template,
) -> None:
    with_email = Template.from_stack(synth_stack(stage_settings("dev", alarm_email="ops@example.com")))

    (subscription,) = [
        resource["Properties"] for resource in resources(with_email, "AWS::SNS::Subscription").values()
    ]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")
    assert resources(dev, "AWS::SNS::Subscription") == {}


def test_given_an_address_that_is_not_one_when_the_stage_is_built_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="alarm_email"):
        stage_settings("dev", alarm_email="ops.example.com")


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_given_each_stage_when_synthesized_then_a_dashboard_shows_the_alarms_and_the_traffic(
    stage: str, local_settings: StageSettings
) -> None:
    settings = local_settings if stage == "local" else stage_settings(stage, cors_origins=PROD_ORIGINS)
    template = Template.from_stack(synth_stack(settings))
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    body = str(dashboard["Properties"]["DashboardBody"])

    for title in ("Alarms", "API requests and errors", "API latency (ms)", "Function errors", "DynamoDB"):
        assert title in body
