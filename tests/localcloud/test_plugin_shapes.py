"""The local cloud's plugins: the logic that does not need a running LocalStack."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud_plugins.cloudformation_shapes import (
    as_cloudformation_strings,
    custom_resource_properties,
    fallback_physical_id,
    point_in_time_recovery,
    stage_patch_operations,
)
from localcloud_plugins.event_invoke import (
    ANSWER_MARGIN_SECONDS,
    NOT_RUN_MESSAGE,
    FreeWorkerPool,
    dead_letter_answer,
    event_invoke_client_config,
)
from localcloud_plugins.gateway_response_shapes import static_headers, template_for
from localcloud_plugins.invocation_slots import InvocationSlots
from localcloud_plugins.serialized_dispatch import serialized
from localcloud_plugins.ttl_sweep import sweep_table


def test_custom_resource_properties_are_strings_as_cloudformation_sends_them() -> None:
    properties = {
        "ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:f",
        "Managed": True,
        "Retention": 7,
        "Nested": {"Flags": [False, 1.5, "x"]},
        "PhysicalResourceId": "from-an-earlier-answer",
    }

    sent = custom_resource_properties(properties)

    assert sent == {
        "ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:f",
        "Managed": "true",
        "Retention": "7",
        "Nested": {"Flags": ["false", "1.5", "x"]},
    }


def test_as_cloudformation_strings_leaves_strings_and_none_alone() -> None:
    assert as_cloudformation_strings("true") == "true"
    assert as_cloudformation_strings(None) is None


def test_fallback_physical_id_is_stable_per_stack_and_resource() -> None:
    first = fallback_physical_id("stack-a", "Notifications")

    assert first == fallback_physical_id("stack-a", "Notifications")
    assert first != fallback_physical_id("stack-b", "Notifications")
    assert first.startswith("Notifications-")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}, True),
        ({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": "false"}}, False),
        ({}, None),
        # TableV2 (AWS::DynamoDB::GlobalTable): the replica in this region decides.
        (
            {
                "Replicas": [
                    {
                        "Region": "eu-west-1",
                        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False},
                    },
                    {
                        "Region": "us-east-1",
                        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    },
                ]
            },
            True,
        ),
        ({"Replicas": [{"Region": "us-east-1"}]}, None),
    ],
)
def test_point_in_time_recovery_reads_the_template_setting(
    model: dict[str, Any], expected: bool | None
) -> None:
    assert point_in_time_recovery(model, "us-east-1") is expected


def test_static_headers_take_quoted_values_and_skip_mappings() -> None:
    parameters = {
        "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
        "gatewayresponse.header.X-Request": "method.request.header.X-Request",
        "gatewayresponse.querystring.x": "'ignored'",
    }

    assert static_headers(parameters) == {"Access-Control-Allow-Origin": "*"}
    assert static_headers(None) == {}


def test_template_for_prefers_json() -> None:
    assert template_for({"text/plain": "t", "application/json": "j"}) == ("application/json", "j")
    assert template_for({"text/plain": "t"}) == ("text/plain", "t")
    assert template_for({}) is None


def test_a_dead_letter_of_an_event_never_run_says_so_and_one_answered_quotes_the_answer() -> None:
    # A throttled event (reserved concurrency 0) has no answer: LocalStack passes None.
    assert dead_letter_answer(None) == {"errorMessage": NOT_RUN_MESSAGE}
    answered = {"errorMessage": "boom", "errorType": "RuntimeError"}
    assert dead_letter_answer(answered) is answered


def test_invocation_slots_let_a_bounded_number_run_per_function_and_make_the_rest_wait() -> None:
    slots = InvocationSlots(per_function=2)
    running: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}
    guard = threading.Lock()

    def invocation(function: str) -> str:
        with slots.slot(function):
            with guard:
                running[function] += 1
                most[function] = max(most[function], running[function])
            time.sleep(0.05)
            with guard:
                running[function] -= 1
        return function

    with ThreadPoolExecutor(max_workers=12) as pool:
        done = list(pool.map(invocation, ["a"] * 8 + ["b"] * 4))

    # Every invocation ran (none refused), never more than two of one function at once, and
    # the functions do not share their slots.
    assert done == ["a"] * 8 + ["b"] * 4
    assert most == {"a": 2, "b": 2}


@pytest.fixture
def ttl_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # In memory, not the local cloud these tests otherwise run beside (make sets its endpoint).
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_sweep_deletes_expired_items_only(ttl_table: Any) -> None:
    # Given a TTL table with an expired, a live and an item without the attribute
    ttl_table.update_time_to_live(
        TableName="t", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    now = int(time.time())
    items = {
        "expired": {"exp": {"N": str(now - 1)}},
        "live": {"exp": {"N": str(now + 60)}},
        "no-ttl": {},
    }
    for pk, extra in items.items():
        ttl_table.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": "x"}, **extra})

    # When the sweeper runs
    deleted = sweep_table(ttl_table, "t", now)

    # Then only the expired item is gone
    remaining = sorted(item["pk"]["S"] for item in ttl_table.scan(TableName="t")["Items"])
    assert deleted == 1
    assert remaining == ["live", "no-ttl"]


def test_sweep_leaves_tables_without_ttl_alone(ttl_table: Any) -> None:
    ttl_table.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "x"}, "exp": {"N": "1"}})

    assert sweep_table(ttl_table, "t", int(time.time())) == 0
    assert ttl_table.scan(TableName="t")["Count"] == 1


@pytest.mark.parametrize("function_timeout", [3, 65, 900])
def test_event_invoke_client_waits_longer_than_the_function_may_run(function_timeout: int) -> None:
    config = event_invoke_client_config(function_timeout)

    assert config.read_timeout == function_timeout + ANSWER_MARGIN_SECONDS
    # The poller's queue hands an event out again 60 s past the function's timeout.
    assert function_timeout < config.read_timeout < function_timeout + 60


@pytest.fixture
def failing_lambda_endpoint() -> Iterator[tuple[str, list[str]]]:
    """A loopback endpoint that answers every request with a retryable 503, and counts them."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            requests.append(self.path)
            body = b'{"Type": "Server", "message": "unavailable"}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", requests
    server.shutdown()
    server.server_close()


def test_event_invoke_client_sends_an_invocation_once_even_when_botocore_would_retry(
    failing_lambda_endpoint: tuple[str, list[str]],
) -> None:
    endpoint, requests = failing_lambda_endpoint
    client = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=event_invoke_client_config(65),
    )

    with pytest.raises(ClientError):
        client.invoke(FunctionName="f", Payload=b"{}")

    assert len(requests) == 1


def test_free_worker_pool_makes_submit_wait_until_a_worker_is_free() -> None:
    # Given a pool of two workers, both busy
    release = threading.Event()
    pool = FreeWorkerPool(max_workers=2)
    busy = [pool.submit(release.wait) for _ in range(2)]

    # When a third task is submitted
    submitted = threading.Event()

    def submit_third() -> None:
        pool.submit(lambda: "third").result()
        submitted.set()

    threading.Thread(target=submit_third, daemon=True).start()

    # Then it is not taken while both workers are busy, and runs once one is free
    assert not submitted.wait(1)
    release.set()
    assert submitted.wait(5)
    assert all(future.result(5) for future in busy)
    pool.shutdown()


def test_free_worker_pool_refuses_a_waiting_submit_once_shut_down() -> None:
    release = threading.Event()
    pool = FreeWorkerPool(max_workers=1)
    pool.submit(release.wait)
    refused: list[BaseException] = []

    def submit_second() -> None:
        try:
            pool.submit(lambda: None)
        except RuntimeError as exc:
            refused.append(exc)

    waiting = threading.Thread(target=submit_second, daemon=True)
    waiting.start()
    pool.shutdown(wait=False)
    waiting.join(5)
    release.set()

    assert len(refused) == 1


def test_serialized_dispatch_runs_one_operation_at_a_time_and_passes_answers_through() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def operation(context: str, request: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return request * 2

    table = serialized({"PutItem": operation, "GetItem": operation})
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: table["PutItem" if i % 2 else "GetItem"]("context", i), range(40)))

    assert answers == [i * 2 for i in range(40)]
    assert most == 1


def test_serialized_dispatch_lets_an_operations_error_through_and_releases_the_lock() -> None:
    def failing(context: str, request: int) -> int:
        raise ValueError("conditional check failed")

    def echo(context: str, request: int) -> int:
        return request

    table = serialized({"PutItem": failing, "GetItem": echo})
    with pytest.raises(ValueError, match="conditional check failed"):
        table["PutItem"]("context", 1)
    assert table["GetItem"]("context", 3) == 3


def test_stage_patch_moves_the_stage_to_its_new_deployment_and_changes_only_what_changed() -> None:
    previous = {
        "RestApiId": "a1",
        "StageName": "local",
        "DeploymentId": "old",
        "Variables": {"x": "1", "y": "2"},
    }
    desired = {
        "RestApiId": "a1",
        "StageName": "local",
        "DeploymentId": "new",
        "TracingEnabled": True,
        "Variables": {"y": "3"},
    }

    assert stage_patch_operations(previous, desired) == [
        {"op": "replace", "path": "/deploymentId", "value": "new"},
        {"op": "replace", "path": "/tracingEnabled", "value": "true"},
        {"op": "remove", "path": "/variables/x"},
        {"op": "replace", "path": "/variables/y", "value": "3"},
    ]
    assert stage_patch_operations(desired, desired) == []
