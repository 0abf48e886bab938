"""The local cloud serves a CDK app end to end: deploy, functions, S3, DynamoDB, logs."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from localcloud_plugins.event_invoke import default_invoker_count

from .conftest import invoke

pytestmark = pytest.mark.localcloud


def wait_for[T](probe: Callable[[], T | None], *, timeout: float = 30, interval: float = 0.5) -> T:
    """Poll until probe returns something truthy (asynchronous effects: notifications, logs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def test_python_function_answers_through_the_rest_api(api_url: str) -> None:
    response = requests.get(f"{api_url}/python", timeout=30)

    assert response.status_code == 200
    assert response.json()["runtime"] == "python"
    assert response.json()["path"] == "/python"


def test_node_function_answers_through_the_rest_api_using_the_aws_sdk(
    api_url: str, test_stack: dict[str, str]
) -> None:
    response = requests.get(f"{api_url}/node", timeout=30)

    assert response.status_code == 200
    body = response.json()
    assert body["runtime"] == "nodejs"
    # The handler listed buckets with @aws-sdk/client-s3 from NODE_PATH: the test stack's is among them.
    assert body["buckets"] >= 1


def test_uploaded_object_triggers_the_notification_function_which_writes_to_the_table(
    test_stack: dict[str, str],
) -> None:
    key = f"uploads/{uuid.uuid4().hex}.txt"
    boto3.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"hello")
    table = boto3.resource("dynamodb").Table(test_stack["TableName"])

    item = wait_for(lambda: table.get_item(Key={"pk": f"OBJECT#{key}", "sk": "CREATED"}).get("Item"))

    assert item["size"] == 5


def test_object_outside_the_notification_prefix_triggers_nothing(test_stack: dict[str, str]) -> None:
    key = f"elsewhere/{uuid.uuid4().hex}.txt"
    marker = f"uploads/{uuid.uuid4().hex}.txt"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"x")
    s3.put_object(Bucket=test_stack["BucketName"], Key=marker, Body=b"x")
    table = boto3.resource("dynamodb").Table(test_stack["TableName"])

    # Once the later, matching upload has been recorded, the earlier one would have been too.
    wait_for(lambda: table.get_item(Key={"pk": f"OBJECT#{marker}", "sk": "CREATED"}).get("Item"))

    assert "Item" not in table.get_item(Key={"pk": f"OBJECT#{key}", "sk": "CREATED"})


def test_function_over_its_timeout_is_reported_as_timed_out_and_the_next_call_works(
    test_stack: dict[str, str],
) -> None:
    function = test_stack["DirectFunction"]  # timeout: 3 s

    error, payload = invoke(function, {"sleep": 10})

    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in payload["errorMessage"]
    error, payload = invoke(function, {})
    assert error is None
    assert 0 < payload["remaining_ms"] <= 3000


def test_concurrent_calls_are_all_answered_by_more_than_one_environment(test_stack: dict[str, str]) -> None:
    function = test_stack["DirectFunction"]

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: invoke(function, {"sleep": 1}), range(5)))

    assert [error for error, _ in results] == [None] * 5
    assert len({payload["pid"] for _, payload in results}) > 1


def test_a_burst_of_calls_is_answered_by_at_most_a_machine_sized_number_of_environments(
    test_stack: dict[str, str],
) -> None:
    # Lambda would start one environment per concurrent call; on this machine each is a process,
    # and 100 at once starved every one of them (see invocation_slots.py). Three times the cap:
    # every call is answered, the ones beyond the cap after waiting for a free environment.
    function = test_stack["DirectFunction"]
    calls = 3 * default_invoker_count()

    with ThreadPoolExecutor(max_workers=calls) as pool:
        results = list(pool.map(lambda _: invoke(function, {"sleep": 1}), range(calls)))

    assert [error for error, _ in results] == [None] * calls
    assert 1 < len({payload["pid"] for _, payload in results}) <= default_invoker_count()


def test_warm_environment_is_reused_between_sequential_calls(test_stack: dict[str, str]) -> None:
    function = test_stack["DirectFunction"]

    pids = {invoke(function, {})[1]["pid"] for _ in range(3)}

    assert len(pids) == 1


def test_raised_exception_comes_back_as_a_function_error_with_its_message(test_stack: dict[str, str]) -> None:
    error, payload = invoke(test_stack["DirectFunction"], {"raise": "the disk is full"})

    assert error == "Unhandled"
    assert payload["errorType"] == "RuntimeError"
    assert payload["errorMessage"] == "the disk is full"
    assert any("index.py" in frame for frame in payload["stackTrace"])


def test_printed_lines_reach_cloudwatch_logs(test_stack: dict[str, str]) -> None:
    function = test_stack["DirectFunction"]
    marker = f"log-marker-{uuid.uuid4().hex}"
    invoke(function, {"print": marker})
    logs = boto3.client("logs")

    def find() -> list[str]:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
        return [event["message"] for event in events if marker in event["message"]]

    messages = wait_for(find)

    assert messages == [f"{marker}\n"]


def test_node_custom_resource_set_log_retention(test_stack: dict[str, str]) -> None:
    group = f"/aws/lambda/{test_stack['NodeFunction']}"

    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]

    assert [g.get("retentionInDays") for g in groups if g["logGroupName"] == group] == [7]


def test_table_from_the_template_has_its_gsi_ttl_and_point_in_time_recovery(
    test_stack: dict[str, str],
) -> None:
    dynamodb = boto3.client("dynamodb")
    table = test_stack["TableName"]

    description = dynamodb.describe_table(TableName=table)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]

    assert [index["IndexName"] for index in description["GlobalSecondaryIndexes"]] == ["by-group"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_gsi_query_pages_return_every_match_once_in_order(test_stack: dict[str, str]) -> None:
    table = boto3.resource("dynamodb").Table(test_stack["TableName"])
    group = f"group-{uuid.uuid4().hex}"
    with table.batch_writer() as batch:
        for position in range(7):
            batch.put_item(
                Item={"pk": f"{group}#{position}", "sk": "ITEM", "group": group, "position": position}
            )
        batch.put_item(Item={"pk": "other", "sk": "ITEM", "group": "another-group", "position": 1})

    seen: list[int] = []
    pages = 0
    kwargs: dict[str, Any] = {
        "IndexName": "by-group",
        "KeyConditionExpression": "#g = :g",
        "ExpressionAttributeNames": {"#g": "group"},
        "ExpressionAttributeValues": {":g": group},
        "Limit": 2,
    }
    while True:
        page = table.query(**kwargs)
        pages += 1
        assert len(page["Items"]) <= 2
        seen.extend(int(item["position"]) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    assert seen == list(range(7))
    assert pages >= 4


def test_conditional_write_and_transaction_are_enforced(test_stack: dict[str, str]) -> None:
    client = boto3.client("dynamodb")
    table = test_stack["TableName"]
    key = {"pk": {"S": f"cond-{uuid.uuid4().hex}"}, "sk": {"S": "ITEM"}}
    client.put_item(TableName=table, Item=key, ConditionExpression="attribute_not_exists(pk)")

    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(TableName=table, Item=key, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "tx-new"}, "sk": {"S": "ITEM"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    # The cancelled transaction wrote nothing.
    assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": "tx-new"}, "sk": {"S": "ITEM"}})


def test_concurrent_transactions_all_succeed_and_conditional_writes_have_one_winner(
    test_stack: dict[str, str],
) -> None:
    # moto is not thread-safe: before the local cloud serialized DynamoDB operations, most of
    # 200 concurrent transactions failed with InternalError ("dictionary changed size during
    # iteration"). Botocore's retries are off so that no failure is hidden by a retry.
    client = boto3.client(
        "dynamodb", config=Config(max_pool_connections=16, retries={"max_attempts": 1, "mode": "standard"})
    )
    table = test_stack["TableName"]
    run = uuid.uuid4().hex

    def transaction(i: int) -> None:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": f"tx-{run}-{i}"}, "sk": {"S": f"{j}"}}}}
                for j in range(10)
            ]
        )

    def conditional_put(i: int, key: str) -> bool:
        try:
            client.put_item(
                TableName=table,
                Item={"pk": {"S": key}, "sk": {"S": "ITEM"}, "writer": {"N": str(i)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(transaction, range(120)))  # raises the first failure, if any
        keys = [f"race-{run}-{r}" for r in range(10)]
        winners = [sum(pool.map(conditional_put, range(16), [key] * 16)) for key in keys]

    assert winners == [1] * 10
    written = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"tx-{run}-7"}},
    )["Items"]
    assert len(written) == 10


def _mock_api_template(paths: list[str]) -> dict[str, Any]:
    """A REST API with a MOCK GET per path, deployed to stage ``live`` as CDK does: a new
    Deployment (a new logical id) whenever the methods change, and a Stage pointing at it."""
    resources: dict[str, Any] = {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "stages"}}
    }
    methods = []
    for path in paths:
        resources[f"Res{path}"] = {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": path,
            },
        }
        resources[f"Get{path}"] = {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Ref": f"Res{path}"},
                "HttpMethod": "GET",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "MOCK",
                    "RequestTemplates": {"application/json": '{"statusCode": 200}'},
                    "IntegrationResponses": [
                        {"StatusCode": "200", "ResponseTemplates": {"application/json": path}}
                    ],
                },
                "MethodResponses": [{"StatusCode": "200"}],
            },
        }
        methods.append(f"Get{path}")
    deployment = "Deployment" + "".join(paths)
    resources[deployment] = {
        "Type": "AWS::ApiGateway::Deployment",
        "Properties": {"RestApiId": {"Ref": "Api"}},
        "DependsOn": methods,
    }
    resources["Stage"] = {
        "Type": "AWS::ApiGateway::Stage",
        "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "live", "DeploymentId": {"Ref": deployment}},
    }
    return {"Resources": resources, "Outputs": {"ApiId": {"Value": {"Ref": "Api"}}}}


def test_stack_update_that_adds_a_route_keeps_the_stage_and_serves_the_new_route(local_cloud: str) -> None:
    # LocalStack alone left the API without its stage after such an update: its Stage update
    # was a no-op and deleting the old Deployment deleted the stage still pointing at it.
    cloudformation = boto3.client("cloudformation")
    name = f"stages-{uuid.uuid4().hex[:8]}"

    def settle(action: Callable[..., Any], waiter: str, template: dict[str, Any]) -> None:
        action(StackName=name, TemplateBody=json.dumps(template))
        cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    settle(cloudformation.create_stack, "stack_create_complete", _mock_api_template(["one"]))
    try:
        outputs = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
        api_id = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "ApiId")
        settle(cloudformation.update_stack, "stack_update_complete", _mock_api_template(["one", "two"]))

        apigateway = boto3.client("apigateway")
        (stage,) = apigateway.get_stages(restApiId=api_id)["item"]
        deployments = apigateway.get_deployments(restApiId=api_id)["items"]
        assert [d["id"] for d in deployments] == [stage["deploymentId"]]
        for path in ("one", "two"):
            answer = requests.get(f"{local_cloud}/_aws/execute-api/{api_id}/live/{path}", timeout=10)
            assert (answer.status_code, answer.text) == (200, path)
    finally:
        cloudformation.delete_stack(StackName=name)


def _presign_in_function(api_url: str, key: str, expires: int) -> str:
    response = requests.get(
        f"{api_url}/python", params={"action": "presign", "key": key, "expires": expires}, timeout=30
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


def test_presigned_get_signed_inside_a_function_works_and_is_refused_when_tampered(
    api_url: str, test_stack: dict[str, str]
) -> None:
    key = f"private/{uuid.uuid4().hex}.bin"
    boto3.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"secret bytes")
    url = _presign_in_function(api_url, key, expires=60)

    assert requests.get(url, timeout=30).content == b"secret bytes"
    tampered = url.replace(key, key.replace("private/", "private/x"))
    assert requests.get(tampered, timeout=30).status_code == 403
    signature_start = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = "0" if url[signature_start] != "0" else "1"
    bad_signature = url[:signature_start] + flipped + url[signature_start + 1 :]
    assert requests.get(bad_signature, timeout=30).status_code == 403


def test_presigned_get_is_refused_once_expired(api_url: str, test_stack: dict[str, str]) -> None:
    key = f"private/{uuid.uuid4().hex}.bin"
    boto3.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"x")
    url = _presign_in_function(api_url, key, expires=1)

    time.sleep(2.5)

    assert requests.get(url, timeout=30).status_code == 403


def test_function_with_a_runtime_the_host_cannot_serve_fails_with_a_message_saying_so(
    local_cloud: str,
) -> None:
    client = boto3.client("lambda")
    name = f"unsupported-{uuid.uuid4().hex[:8]}"
    client.create_function(
        FunctionName=name,
        Runtime="java21",
        Role="arn:aws:iam::000000000000:role/test",
        Handler="example.Handler::handleRequest",
        Code={"ZipFile": _zip({"placeholder.txt": "no java here"})},
    )
    try:
        configuration = wait_for(
            lambda: (c := client.get_function_configuration(FunctionName=name))["State"] != "Pending" and c
        )
        assert configuration["State"] == "Failed"
        assert "java21 cannot be served" in configuration["StateReason"]
    finally:
        # LocalStack cannot delete a function whose version never started ("Unable to find
        # version manager"); the name is unique, so a leftover harms nothing.
        with contextlib.suppress(client.exceptions.ClientError):
            client.delete_function(FunctionName=name)


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_expired_items_are_swept_and_live_ones_kept(test_stack: dict[str, str]) -> None:
    table = boto3.resource("dynamodb").Table(test_stack["TableName"])
    expired = {"pk": f"ttl-{uuid.uuid4().hex}", "sk": "ITEM"}
    live = {"pk": f"ttl-{uuid.uuid4().hex}", "sk": "ITEM"}
    table.put_item(Item={**expired, "expires_at": int(time.time()) - 60})
    table.put_item(Item={**live, "expires_at": int(time.time()) + 3600})

    # The sweeper runs every LOCALCLOUD_TTL_SWEEP_SECONDS (10 by default).
    wait_for(lambda: "Item" not in table.get_item(Key=expired), timeout=40, interval=1)

    assert "Item" in table.get_item(Key=live)
